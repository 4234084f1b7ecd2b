"""The learner's own classes: a graph of DeZero's shape (``.data``, ``.grad``, ``.creator`` with its
``input``/``inputs`` and ``output``/``outputs``), built by classes from the notebook, is mirrored
node for node in this engine, so that every view (table, chain rule, trace, graph, --step) shows it.

Each mirrored function, a ``Theirs``, runs the learner's own ``backward`` when this engine's backward
reaches it (once per function, in generation order: the learner's recursive ``Variable.backward`` is
never called) and checks what it passed back (owncheck.py). Afterwards their Variables get the walk's
``.grad``, as their backward would have set it: an array, or their own Variable (the book's step 32)."""
from __future__ import annotations

import copy
import functools
import inspect
import re
import weakref
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import engine
from engine import Function, Variable

from .errors import CellError
from .owncheck import StepCheck, check_step


def is_variable(value: Any) -> bool:
    """Of DeZero's shape, and not this engine's: ``.data``, ``.grad`` and ``.creator``."""
    return (not isinstance(value, (Variable, type, np.ndarray)) and hasattr(value, "data")
            and hasattr(value, "grad") and hasattr(value, "creator"))


def lacks_creator(value: Any) -> bool:
    """A learner's Variable of the book's first steps: ``.data`` and ``.grad``, no ``.creator``."""
    return (not isinstance(value, (Variable, type, np.ndarray)) and hasattr(value, "data")
            and hasattr(value, "grad") and not hasattr(value, "creator"))


def _deref(value: Any) -> Any:
    return value() if isinstance(value, weakref.ref) else value


def inputs_of(function: Any) -> list:
    """A learner's function's inputs: ``inputs`` (steps 11 on) or ``input`` (steps 7-10)."""
    held = getattr(function, "inputs", None)
    if held is None:
        held = [function.input] if hasattr(function, "input") else []
    return [_deref(x) for x in held]


def outputs_of(function: Any, made: Any) -> list:
    """A learner's function's outputs (``outputs``, possibly weak, or ``output``); ``made`` where it keeps none."""
    held = getattr(function, "outputs", None)
    if held is None:
        held = [function.output] if hasattr(function, "output") else [made]
    return [_deref(y) for y in (held if isinstance(held, (list, tuple)) else [held])]


def functions_under(target: Any) -> list:
    """The learner's functions the target depends on, each after those that made its inputs."""
    order, done, stack = [], set(), [(target.creator, False)] if target.creator is not None else []
    while stack:
        function, expanded = stack.pop()
        if expanded:
            order.append(function)
            continue
        if id(function) in done:
            continue
        done.add(id(function))
        stack.append((function, True))
        for x in reversed(inputs_of(function)):
            creator = getattr(x, "creator", None)
            if creator is not None and id(creator) not in done:
                stack.append((creator, False))
    return order


@dataclass
class Mirror:
    """The learner's graph mirrored in this engine: their object's id -> (their object, our Variable)."""

    target: Variable
    variables: dict  # id of their Variable -> (it, our mirror Variable)
    functions: list  # our Theirs nodes, in the order they were mirrored
    classes: tuple  # the learner's class names: their Variable's, then each function's, in order of use
    grad_form: str  # 'array' or 'Variable': what their backward leaves in .grad
    cell_grads: dict  # id of their Variable -> the .grad the cell left on it (before the walk)

    def ours(self, theirs: Any) -> Optional[Variable]:
        """Our mirror of one of their Variables (an engine Variable is its own mirror)."""
        if isinstance(theirs, Variable):
            return theirs
        held = self.variables.get(id(theirs))
        return held[1] if held is not None else None

    def adopt(self, theirs: Any) -> Variable:
        """Our mirror of one of their Variables outside the graph (a row of the table, with no gradient)."""
        if self.ours(theirs) is None:
            self.variables[id(theirs)] = (theirs, _our_copy(theirs))
            self.cell_grads[id(theirs)] = theirs.grad
        return self.ours(theirs)


def mirror(target: Any) -> Mirror:
    """Mirror the learner's graph under ``target`` in this engine (no backward runs yet)."""
    functions = functions_under(target)
    variables: dict = {}
    grad_form = _grad_form(target)

    def ours(x: Any) -> Variable:
        if isinstance(x, Variable):  # a leaf of this engine's (the cell's x = 0.5) in their graph
            return x
        if id(x) not in variables:
            variables[id(x)] = (x, _our_copy(x))
        return variables[id(x)][1]

    nodes, cell_grads = [], {}
    depth = 0  # the deepest generation so far: the target's, once every function is mirrored
    for function in functions:
        inputs = inputs_of(function)
        made = next((x for x in [target] if getattr(x, "creator", None) is function), None)
        outputs = outputs_of(function, made)
        node = _mirror_class(type(function))(function, [np.asarray(y.data, dtype=np.float64) for y in outputs],
                                             grad_form)
        results = node(*[ours(x) for x in inputs])
        depth = max(depth, node.generation)
        for y, result in zip(outputs, results if isinstance(results, tuple) else (results,)):
            if y is not None:
                variables[id(y)] = (y, result)
        nodes.append(node)
    if id(target) not in variables:
        ours(target)
    for node in nodes:  # each replay's copy keeps this: the same functions are checked at any input values
        node.checked = node.generation > depth - MAX_CHECKED_GENERATIONS
    for theirs, _ in variables.values():
        cell_grads[id(theirs)] = theirs.grad
    names = [type(target).__name__] + [type(f).__name__ for f in functions]
    classes = tuple(dict.fromkeys(names))
    return Mirror(variables[id(target)][1], variables, nodes, classes, grad_form, cell_grads)


def _grad_form(target: Any) -> str:
    """What their backward leaves in .grad: what the cell's own backward left on the target, else what
    their Variable.backward seeds it with (step 32: ``Variable(np.ones_like(...))``), by its source or,
    where there is none, by the names its code uses."""
    if target.grad is not None:
        return "array" if isinstance(target.grad, np.ndarray) or np.isscalar(target.grad) else "Variable"
    backward = getattr(type(target), "backward", None)
    name = type(target).__name__
    try:
        source = inspect.getsource(backward)
    except (OSError, TypeError):
        names = getattr(getattr(backward, "__code__", None), "co_names", ())
        return "Variable" if name in names and "ones_like" in names else "array"
    return "Variable" if re.search(rf"grad\s*=\s*{name}\(", source) else "array"


MAX_CHECKED_GENERATIONS = 1_000  # the functions this near the target are checked (about ten runs of their
# forward each); those further down run unchecked, and a note says how many


class Theirs(Function):
    """One of the learner's functions in this engine's graph: its forward gives the recorded outputs
    (on a replay at other values, their function afresh), its backward runs theirs and checks it."""

    def __init__(self, function: Any, recorded: list, grad_form: str) -> None:
        self.theirs, self.recorded, self.grad_form = function, recorded, grad_form
        self.kinds: list = []  # their input Variables' classes, to build new ones on a replay
        self.check: Optional[StepCheck] = None
        self.checked = True  # within MAX_CHECKED_GENERATIONS of the target

    def forward(self, *xs: np.ndarray) -> Any:
        if self.recorded is not None:  # the mirror being built: their forward already ran in the cell
            ys, self.recorded = self.recorded, None
            self.kinds = [type(x) for x in inputs_of(self.theirs)]
        else:  # a replay at other values (--step's sliders, --check): their function, called afresh
            fresh = copy.copy(self.theirs)
            made = fresh(*[_new_like(kind, x) for kind, x in zip(self.kinds, xs)])
            self.theirs = fresh
            ys = [np.asarray(y.data, dtype=np.float64) for y in outputs_of(fresh, made)]
        return tuple(ys) if len(ys) > 1 else ys[0]

    def backward(self, *gys: Any) -> Any:
        arrays = [np.asarray(g.data if isinstance(g, Variable) else g, dtype=np.float64) for g in gys]
        outputs = outputs_of(self.theirs, None)
        given = [_their_gradient(g, y, self.grad_form) for g, y in zip(arrays, outputs)]
        try:
            returned = self.theirs.backward(*given)
        except Exception as error:
            raise CellError(f"{_where(self.theirs)} raised {type(error).__name__}: {error}",
                            category="backward") from error
        inputs = self.inputs
        passed = _gradients(self.theirs, returned, inputs)
        name = type(self.theirs).__name__
        if not self.checked:
            return tuple(passed) if len(passed) > 1 else passed[0]
        self.check = check_step(0, name, _where(self.theirs), _forward(self.theirs),
                                [x.data for x in inputs], arrays, passed, _our_rule(name))
        return tuple(passed) if len(passed) > 1 else passed[0]

    def jvp(self, *tangents: np.ndarray) -> Any:
        """Their own forward-mode rule where their class has one (``jvp``, on arrays); else NotImplementedError."""
        rule = getattr(self.theirs, "jvp", None)
        if rule is None:
            raise NotImplementedError(f"{type(self.theirs).__name__} has no forward-mode rule (jvp)")
        returned = rule(*tangents)
        values = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        arrays = [np.asarray(getattr(t, "data", t), dtype=np.float64) for t in values]
        return tuple(arrays) if len(arrays) > 1 else arrays[0]

    def rule_text(self) -> str:
        return "your own backward"


_CLASSES: dict = {}  # the learner's class -> its Theirs subclass, of the same name


def _mirror_class(theirs: type) -> type:
    """A Theirs subclass named as the learner's class: the views name a step by its function's class."""
    if theirs not in _CLASSES:
        if len(_CLASSES) > 1000:  # classes redefined cell after cell
            _CLASSES.clear()
        _CLASSES[theirs] = type(theirs.__name__, (Theirs,), {"__module__": __name__, "__slots__": ()})
    return _CLASSES[theirs]


def _our_copy(theirs: Any) -> Variable:
    data = np.asarray(theirs.data)
    name = getattr(theirs, "name", None)
    return Variable(np.array(data, dtype=np.result_type(data, np.float64)), name=name if isinstance(name, str) else None)


def _new_like(kind: type, data: np.ndarray) -> Any:
    return Variable(data) if issubclass(kind, Variable) else kind(data)


def _forward(function: Any) -> Any:
    """The learner's forward, run on a copy of their function each time (a forward may store things)."""
    return lambda *xs: copy.copy(function).forward(*xs)


def plain_forward(func: Function) -> Any:
    """A function's forward on arrays, run on a copy each time (a forward may store what it is given): the
    learner's own for a mirrored function."""
    if isinstance(func, Theirs):
        return _forward(func.theirs)
    return lambda *xs: copy.copy(func).forward(*xs)


def _their_gradient(gy: np.ndarray, output: Any, grad_form: str) -> Any:
    if grad_form == "Variable" and output is not None and not isinstance(output, Variable):
        return type(output)(gy)
    return gy


def _gradients(function: Any, returned: Any, inputs: tuple) -> list:
    """Their backward's return as one float64 array per input, each of its input's shape; else the
    CellError that says what came back."""
    where = _where(function)
    values = list(returned) if isinstance(returned, (tuple, list)) else [returned]
    if len(values) != len(inputs):
        raise CellError(f"{where} returned {len(values)} gradient{'s' if len(values) != 1 else ''} for "
                        f"{len(inputs)} input{'s' if len(inputs) != 1 else ''}",
                        hint="return one gradient per input, in the order of the inputs", category="backward")
    passed = []
    for k, (value, x) in enumerate(zip(values, inputs), 1):
        which = f" for input {k}" if len(inputs) > 1 else ""
        if value is None:
            raise CellError(f"{where} returned None{which}", hint="did it forget to return gx?", category="backward")
        value = getattr(value, "data", value) if not isinstance(value, np.ndarray) else value
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CellError(f"{where} returned a {type(value).__name__}{which}, not a number or an array",
                            category="backward") from None
        if array.shape != x.data.shape:
            hint = ("sum it back to the input's shape (the book's sum_to)" if array.size > x.data.size
                    else "a gradient has its input's shape")
            raise CellError(f"{where} returned shape {array.shape}{which}, for an input of shape {x.data.shape}",
                            hint=hint, category="backward")
        passed.append(array)
    return passed


def _where(function: Any) -> str:
    """'Exp.backward (line 7 of its cell)': where the learner's backward is written."""
    return _written(type(function))


@functools.lru_cache(maxsize=256)
def _written(kind: type) -> str:
    method = getattr(kind, "backward", None)
    try:
        line = inspect.getsourcelines(method)[1]
    except (OSError, TypeError):
        return f"{kind.__name__}.backward"
    return f"{kind.__name__}.backward (line {line} of its cell)"


def _our_rule(name: str) -> str:
    """'2x' for 'Square': the local derivative of this engine's function of that name, of one input."""
    ours = getattr(engine, name, None)
    rule = getattr(ours, "rule", "") if isinstance(ours, type) and issubclass(ours, Function) else ""
    return rule.rsplit("=", 1)[-1].strip() if rule.startswith("d/dx") else ""


def write_back(found: Mirror) -> list:
    """Give their Variables the walk's gradients, as their backward would (arrays, or their Variable);
    return a note per Variable whose .grad from the cell's own backward differed."""
    differed = []
    for key, (theirs, ours) in found.variables.items():
        grad = None if ours.grad is None else np.array(ours.grad.data if isinstance(ours.grad, Variable) else ours.grad)
        before = found.cell_grads.get(key)
        if before is not None and grad is not None:
            old = np.asarray(getattr(before, "data", before), dtype=np.float64)
            if old.shape != grad.shape or not np.allclose(old, grad, rtol=1e-12, atol=0):
                differed.append((theirs, old, grad))
        if grad is not None:
            theirs.grad = type(theirs)(grad) if found.grad_form == "Variable" else grad
    return differed


def restore(found: Mirror) -> None:
    """Put back the .grad the cell left on their Variables (a later pass failed)."""
    for key, (theirs, _) in found.variables.items():
        if key in found.cell_grads:
            theirs.grad = found.cell_grads[key]
