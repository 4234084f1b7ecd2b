"""Forward mode on a %%grad cell's recorded graph (--mode forward, --mode both) and its Hessian
(--hessian): pure functions of the recorded run that return plain data and notes.

Tangents come from the Functions' own forward-mode rules (``jvp``), pushed over the graph the cell
recorded with ``engine.push_tangents``: one pass per input element, as forward mode costs. A function
with no rule (a learner's own class) gets central differences of its own forward instead, and is named
in a note. Each named line's tangent is written as the sum over its named operands of ∂line/∂operand ×
the operand's tangent, the partials computed by pushing a unit tangent through that line alone."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from engine import Variable, functions_between, grad, push_tangents

from .extras import SecondOrderWatch
from .model import Label
from .own import plain_forward
from .trace import local_derivative

MAX_WORK = 2_000_000  # numbers the jvps take and make over every pass, and
MAX_JVPS = 100_000  # the jvps run (about 6 µs each, so well under a second): the passes past either bound are not run, and a note says so
MAX_HESSIAN = 64  # scalar inputs of --hessian; more are refused with a note
NUMERIC_EPS = 1e-6  # central differences for a function with no forward-mode rule, relative to the inputs' size
AGREE_RTOL = 1e-9  # forward and reverse gradients must agree this closely (1e-5 with central differences in)


@dataclass(frozen=True)
class Line:
    """One binding of the cell, as forward mode writes it: its label, value and named operands; a line's
    tangent is Σ partial × the operand's tangent."""

    label: Label
    variable: Variable
    is_input: bool
    expression: str  # the source that made it, as the table's 'made by' shows it
    operands: tuple = ()  # labels of the named variables the line's expression reads
    partials: tuple = ()  # ∂line/∂operand per operand at the cell's values (None: not one number)
    locals: tuple = ()  # per operand, the Local of the line's one function (its rule in the cell's letters), or None
    numeric: bool = False  # a function of the line has no forward-mode rule: its partials are central differences


@dataclass(frozen=True)
class Modes:
    """Forward mode beside reverse for one cell: every line's tangent per input element, and the pass counts."""

    lines: tuple  # Line per binding, in the order the cell bound them
    seeds: tuple  # the inputs (or elements 'W1[0,1]') pushed, one pass each, in order
    tangents: dict  # seed -> {label: tangent array}
    adjoints: dict  # label -> d(target)/d(it) from the one backward pass (None: the target does not depend on it)
    inputs: tuple  # (name, size) per input
    target: str
    target_size: int
    difference: float  # the largest |forward − reverse| / max(1, |reverse|) over the gradients compared
    tolerance: float  # within which they agree
    numeric: tuple  # names of the function classes whose tangents are central differences
    notes: tuple
    reverse: dict = field(default_factory=dict)  # seed -> the reverse gradient its pass is compared with (None: none)

    @property
    def forward_passes(self) -> int:
        """The passes forward mode needs for every input's gradient: one per input element."""
        return sum(size for _, size in self.inputs)

    @property
    def reverse_passes(self) -> int:
        """The passes reverse mode needs for the whole Jacobian: one per element of the target."""
        return self.target_size

    def scalar_seeds(self) -> list:
        """The seeds that are whole scalar inputs (their passes are written out)."""
        sizes = dict(self.inputs)
        return [seed for seed in self.seeds if sizes.get(seed) == 1 and "[" not in seed]


def forward_modes(target: Variable, target_name: str, bindings: list, inputs: list, label: Callable,
                  grads: dict) -> Modes:
    """``bindings``: (Label, Variable, is_input, expression) per binding in order; ``inputs``: (name, Variable) per input
    to push; ``grads``: the reverse gradients by name, to compare with."""
    numeric: set = set()
    rule = _rule(numeric)
    lines = _lines(bindings, label)
    variables = [line.variable for line in lines] + [target]
    reach = _Reach(functions_between(tuple(variables), tuple(v for _, v in inputs)))
    tangents, reverses, difference, work, seeds, left = {}, {}, 0.0, [0, 0], [], []
    zero = functools.lru_cache(maxsize=None)(_read_only_zeros)  # one shared array per shape off the pass
    by_label = [(line.label.name, line.variable) for line in lines]
    with np.errstate(all="ignore"):
        passes = _seeds(inputs)
        for seed, variable, flat in passes:
            functions, numbers = reach.from_(variable)
            if seeds and (work[0] + len(functions) > MAX_JVPS or work[1] + numbers > MAX_WORK):
                left = [seed.split("[", 1)[0]] + [later.split("[", 1)[0] for later, _, _ in passes]
                break
            work = [work[0] + len(functions), work[1] + numbers]
            one_hot = np.zeros(np.shape(variable.data))
            one_hot.flat[flat] = 1.0
            known = push_tangents(variables, {variable: one_hot}, functions, rule)
            tangents[seed] = {name: known[v] if v in known else zero(v.data.shape) for name, v in by_label}
            seeds.append(seed)
            forward = float(np.sum(known.get(target, 0.0)))
            reverse = reverses[seed] = _reverse_at(grads, seed, one_hot)
            if reverse is not None:
                difference = max(difference, abs(forward - reverse) / max(1.0, abs(reverse)))
    notes = [_cut_note(len(seeds), inputs, left, work)] if left else []
    sizes = tuple((name, int(np.size(v.data))) for name, v in inputs)
    adjoints = {line.label.name: _grad_of(line.variable) for line in lines}
    if numeric:
        notes.append(f"{', '.join(sorted(numeric))} {'has' if len(numeric) == 1 else 'have'} no forward-mode rule "
                     "(a jvp method beside backward): the tangents through "
                     f"{'it' if len(numeric) == 1 else 'them'} are central differences of the forward (marked ≈)")
    return Modes(tuple(lines), tuple(seeds), tangents, adjoints, sizes, target_name, int(np.size(target.data)),
                 difference, 1e-5 if numeric else AGREE_RTOL, tuple(sorted(numeric)), tuple(notes), reverses)


def _rule(numeric: set) -> Callable:
    """func.jvp, or central differences of its forward where it has none (its class is added to ``numeric``)."""

    def rule(func: Any, *tangents: np.ndarray) -> Any:
        try:
            return func.jvp(*tangents)
        except NotImplementedError:
            numeric.add(type(func).__name__)
            return central_jvp(plain_forward(func), func._primals(), tangents)

    return rule


def central_jvp(forward: Callable, primals: tuple, tangents: tuple) -> Any:
    """(f(x + h·t) − f(x − h·t)) / 2h, h relative to the size of the inputs and of the tangents."""
    size = max([1.0] + [float(np.max(np.abs(p))) for p in primals if np.size(p)])
    reach = max([0.0] + [float(np.max(np.abs(t))) for t in tangents if np.size(t)])
    if reach == 0.0:
        ys = forward(*primals)
        return tuple(np.zeros(np.shape(y)) for y in ys) if isinstance(ys, tuple) else np.zeros(np.shape(ys))
    h = NUMERIC_EPS * size / reach
    up = forward(*[p + h * t for p, t in zip(primals, tangents)])
    down = forward(*[p - h * t for p, t in zip(primals, tangents)])
    if isinstance(up, tuple):
        return tuple((np.asarray(u, dtype=float) - np.asarray(d, dtype=float)) / (2 * h) for u, d in zip(up, down))
    return (np.asarray(up, dtype=float) - np.asarray(down, dtype=float)) / (2 * h)


def _lines(bindings: list, label: Callable) -> list:
    """A Line per binding: an input's has no operands; a computed line's operands are the named variables
    (bound earlier, or inputs) its expression reads, found through the unnamed results inside the line."""
    bound: dict = {}
    for shown, v, _, _ in bindings:
        bound.setdefault(id(v), shown)  # an alias (y = x) keeps its first name
    seen: dict = {}
    lines = []
    for shown, v, is_input, expression in bindings:
        if is_input or v.creator is None:
            lines.append(Line(shown, v, True, expression))
        elif id(v) in seen:  # an alias, y = x: its tangent is that of the name it copies
            lines.append(Line(shown, v, False, expression, (seen[id(v)].name,), (1.0,), (None,)))
        else:
            lines.append(_computed(shown, v, expression, bound, label))
        seen.setdefault(id(v), shown)
    return lines


def _computed(shown: Label, v: Variable, expression: str, bound: dict, label: Callable) -> Line:
    """A computed line: its operands in the order its expression reads them, left to right, and the partials."""
    operands, functions, visited = {}, [v.creator], {id(v.creator)}
    stack = list(reversed(v.creator.inputs))
    while stack:
        x = stack.pop()
        if id(x) in bound and x is not v:
            operands.setdefault(id(x), (bound[id(x)].name, x))
        elif x.creator is not None:
            if id(x.creator) not in visited:
                visited.add(id(x.creator))
                functions.append(x.creator)
                stack.extend(reversed(x.creator.inputs))
        elif label(x) is not None:  # a Variable from the notebook the cell reads
            operands.setdefault(id(x), (label(x).name, x))
    named = list(operands.values())
    numeric: set = set()
    partials = tuple(_partial(v, x, functions, _rule(numeric)) for _, x in named)
    locals_ = _locals(functions, named, partials, label)
    return Line(shown, v, False, expression, tuple(name for name, _ in named), partials, locals_, bool(numeric))


def _partial(v: Variable, x: Variable, functions: list, rule: Callable) -> Optional[float]:
    """∂v/∂x through the line's own functions (the other operands held), when both are single numbers."""
    if np.size(v.data) != 1 or np.size(x.data) != 1:
        return None
    with np.errstate(all="ignore"):
        known = push_tangents(v, {x: np.ones(np.shape(x.data))}, functions=functions, rule=rule)
    return float(np.sum(known.get(v, 0.0)))


def _locals(functions: list, named: list, partials: tuple, label: Callable) -> tuple:
    """The rule per operand in the cell's letters (2·x), where the line is one function of distinct operands."""
    if len(functions) != 1 or any(p is None for p in partials):
        return (None,) * len(named)
    func = functions[0]
    positions = [[i for i, x in enumerate(func.inputs) if x is v] for _, v in named]
    if any(len(found) != 1 for found in positions) or not func.local:
        return (None,) * len(named)
    found = [local_derivative(func, where[0], 1.0, partial, label) for where, partial in zip(positions, partials)]
    return tuple(local if local is not None and local.template else None for local in found)


def _read_only_zeros(shape: tuple) -> np.ndarray:
    zeros = np.zeros(shape)
    zeros.flags.writeable = False
    return zeros


def _seeds(inputs: list) -> Any:
    """(seed name, Variable, flat index of the element seeded) per pass forward mode needs: the scalar inputs
    first, then each array's elements ('W1[0,1]')."""
    for name, v in sorted(inputs, key=lambda pair: np.ndim(pair[1].data) > 0):
        shape = np.shape(v.data)
        for flat in range(int(np.size(v.data))):
            index = np.unravel_index(flat, shape) if shape else ()
            yield (name if not shape else f"{name}[{','.join(str(int(i)) for i in index)}]", v, flat)


class _Reach:
    """The functions a pass seeded at one variable runs: those it reaches, in generation order."""

    def __init__(self, functions: set) -> None:
        self.users: dict = {}  # id(Variable) -> the functions that take it
        self.numbers: dict = {}  # id(Function) -> the numbers its jvp takes and makes
        for func in functions:
            outputs = [y for y in (ref() for ref in func.outputs) if y is not None]
            self.numbers[id(func)] = sum(x.data.size for x in func.inputs) + sum(y.data.size for y in outputs)
            for x in func.inputs:
                self.users.setdefault(id(x), []).append((func, outputs))

    def from_(self, variable: Variable) -> tuple:
        """(the functions, in generation order; the numbers they take and make)."""
        found, stack = {}, [variable]
        while stack:
            for func, outputs in self.users.get(id(stack.pop()), ()):
                if id(func) not in found:
                    found[id(func)] = func
                    stack.extend(outputs)
        return sorted(found.values(), key=lambda func: func.generation), sum(self.numbers[key] for key in found)


def _cut_note(ran: int, inputs: list, left: list, work: list) -> str:
    total = sum(int(np.size(v.data)) for _, v in inputs)
    return (f"forward mode ran {ran:,} of the {total:,} passes it needs (one per input element), {work[0]:,} "
            f"functions on {work[1]:,} numbers in all, within its bounds of {MAX_JVPS:,} and {MAX_WORK:,}: the "
            f"passes of {', '.join(dict.fromkeys(left))} past those were not run")


def _reverse_at(grads: dict, seed: str, one_hot: np.ndarray) -> Optional[float]:
    name = seed.split("[", 1)[0]
    g = grads.get(name)
    return None if g is None else float(np.sum(np.asarray(g) * one_hot))


def _grad_of(v: Variable) -> Optional[np.ndarray]:
    g = v.grad
    return None if g is None else np.array(g.data if isinstance(g, Variable) else g)


# ================================================================ --hessian


@dataclass(frozen=True)
class Hessian:
    """The second derivatives of a scalar target over scalar inputs, mixed partials included."""

    names: tuple
    matrix: np.ndarray  # (n, n): matrix[i, j] = ∂²target/∂names[i]∂names[j]
    gradient: np.ndarray  # (n,): the first derivatives it was taken from
    values: np.ndarray  # (n,): the inputs' values
    numeric: tuple = ()  # function classes whose jvp was central differences

    def as_dict(self) -> dict:
        """{(name_i, name_j): ∂²target/∂name_i∂name_j}."""
        return {(a, b): float(self.matrix[i, j]) for i, a in enumerate(self.names) for j, b in enumerate(self.names)}

    def newton(self) -> Optional[tuple]:
        """One Newton step for a single input, (x, f′, f″, x − f′/f″); None otherwise or where f″ = 0."""
        if len(self.names) != 1 or self.matrix[0, 0] == 0 or not np.isfinite(self.matrix[0, 0]):
            return None
        x, d1, d2 = float(self.values[0]), float(self.gradient[0]), float(self.matrix[0, 0])
        return x, d1, d2, x - d1 / d2


def hessian_of(target: Variable, target_name: str, inputs: list) -> tuple:
    """(Hessian or None, notes): forward over reverse, a pass of tangents through the gradient's graph
    (``engine.grad(create_graph=True)``, which reads and writes no .grad) per scalar input."""
    if np.size(target.data) != 1:
        return None, [f"--hessian needs a scalar target; {target_name} has shape {np.shape(target.data)}"]
    notes = [f"--hessian skips '{name}': it is not a scalar" for name, v in inputs if np.ndim(v.data)]
    scalars = [(name, v) for name, v in inputs if not np.ndim(v.data)]
    if not scalars:
        return None, notes + ["--hessian needs scalar inputs"]
    if len(scalars) > MAX_HESSIAN:
        return None, notes + [f"--hessian is computed over at most {MAX_HESSIAN} scalar inputs; the cell has "
                              f"{len(scalars):,}: choose some with --wrt"]
    xs = [v for _, v in scalars]
    watch = SecondOrderWatch(follow=True)
    with np.errstate(all="ignore"):
        gs = grad(target, xs, create_graph=True, hook=watch)
    if watch.why:
        return None, notes + [f"--hessian needs the gradient as a graph of its own to differentiate: {watch.why}"]
    numeric: set = set()
    rule = _rule(numeric)
    outputs = [g for g in gs if isinstance(g, Variable)]
    columns = []
    with np.errstate(all="ignore"):
        for x in xs:
            known = push_tangents(outputs, {x: np.ones(())}, rule=rule)
            columns.append([float(known.get(g, 0.0)) if isinstance(g, Variable) else 0.0 for g in gs])
    matrix = np.array(columns, dtype=float).T
    gradient = np.array([float(np.asarray(g.data if isinstance(g, Variable) else g)) for g in gs])
    if numeric:
        notes.append(f"--hessian: {', '.join(sorted(numeric))} {'has' if len(numeric) == 1 else 'have'} no "
                     "forward-mode rule; the tangents through it are central differences (≈)")
    return Hessian(tuple(name for name, _ in scalars), matrix, gradient,
                   np.array([float(v.data) for v in xs]), tuple(sorted(numeric))), notes
