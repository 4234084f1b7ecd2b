"""Program + namespace -> GradResult: runs the cell on the engine in a scratch namespace, runs
backward with a Tracer, and collects values and gradients under the cell's own names.

The notebook's namespace is only read here; the magic copies names back after a success."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

import engine
from engine import Variable, clear_grads, functions_of, leaves_of, no_grad

from . import errors, extras
from .errors import NonNumber
from .parser import LEAF_HOOK, NODE_HOOK, CellError, Program, check_names
from .result import GradResult, Row, View
from .trace import Label, Tracer

ENGINE_NAMES = {name: getattr(engine, name) for name in engine.__all__ + ["sum", "max", "min", "abs", "pow"]}
ENGINE_NAMES["np"] = np
MAX_INPUT_ELEMENTS = 10 ** 7  # larger inputs are refused: 10^7 float64 are 80 MB, and each op makes more


@dataclass(frozen=True)
class Options:
    """What to compute."""

    target: Optional[str] = None
    wrt: Optional[tuple] = None
    order: int = 1
    check: bool = False
    plot: bool = False
    view: View = View()


@dataclass
class Binding:
    """A name bound by the cell (or read from the notebook) to a Variable."""

    name: str
    lineno: Optional[int]
    expression: str
    variable: Variable
    is_input: bool
    leaf_key: Optional[int] = None  # which leaf this is, for re-running the cell with another value


class Recorder:
    """The hooks the instrumented cell calls: labels operations, turns assigned numbers into leaves."""

    def __init__(self, program: Program, overrides: Optional[dict] = None) -> None:
        self.program = program
        self.labels: dict = {}  # id(Variable) -> Label
        self.bindings: list = []
        self.bound: set = set()  # ids of the Variables in bindings
        self.keep: list = []  # keeps labelled Variables alive, so that their ids stay unique
        self.overrides = overrides or {}
        self.leaf_count = 0
        self.non_numbers: dict = {}  # name -> NonNumber, for values that cannot be inputs
        self.shadowed: dict = {}  # engine function name -> type of the notebook value hiding it
        self.texts = {(a.lineno, a.name): a.text for a in program.assignments}

    def node(self, value: Any, index: int) -> Any:
        """NODE_HOOK: label a new Variable with the source text of the operation that made it."""
        if isinstance(value, Variable) and id(value) not in self.labels and value.creator is not None:
            expression = self.program.expressions[index]
            self.labels[id(value)] = Label(expression.text, expression.lineno)
            self.keep.append(value)
        return value

    def leaf(self, value: Any, name: str, lineno: int) -> Any:
        """LEAF_HOOK: ``name = value``; a number or array becomes an input Variable named ``name``."""
        key = None
        kind = errors.non_number(value)
        if kind is not None:
            self.non_numbers[name] = NonNumber(kind, f"assigned on line {lineno}", lineno)
        if _is_number(value):
            value, key = self.new_leaf(value, name, lineno)
        is_input = (isinstance(value, Variable) and value.creator is None and id(value) not in self.labels
                    and id(value) not in self.bound)  # `y = x` is an alias, not a new input
        if isinstance(value, Variable):  # inputs, and Variables the user made: Variable(np.array(0.5))
            self.bind(Binding(name, lineno, self.texts.get((lineno, name), ""), value, is_input, key))
        return value

    def bind(self, binding: Binding) -> None:
        """Record that the cell bound a name to a Variable."""
        self.bindings.append(binding)
        self.bound.add(id(binding.variable))
        self.keep.append(binding.variable)
        if binding.variable.name is None:
            binding.variable.name = binding.name

    def new_leaf(self, value: Any, name: str, lineno: Optional[int] = None) -> tuple:
        """A leaf Variable for a copy of ``value`` (or for its override), and its key."""
        if np.size(value) > MAX_INPUT_ELEMENTS:  # checked before anything is copied
            raise CellError(f"'{name}' has {np.size(value):,} elements; %%grad takes inputs of at most "
                            f"{MAX_INPUT_ELEMENTS:,}", lineno, self.program.line(lineno),
                            "use a smaller array: the table and trace are for seeing the chain rule work",
                            category="size")
        key = self.leaf_count
        self.leaf_count += 1
        if key in self.overrides:
            value = self.overrides[key]
        return Variable(np.array(value, dtype=np.float64), name=name), key


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "iuf"


def run(program: Program, namespace: Mapping[str, Any], options: Options = Options()) -> tuple:
    """Run ``program`` against ``namespace`` (read only); return the GradResult and the cell's scope."""
    check_names(program, set(namespace) | set(ENGINE_NAMES))
    recorder, scope = execute(program, namespace)
    target_name = options.target or program.last_assigned
    target = _find_target(program, scope, target_name, recorder)
    labelled = _bindings(recorder)
    rows_by_var = _select_inputs(_rows(labelled), options.wrt)
    _require_inputs(program, target, target_name, rows_by_var, recorder)
    # The graph may hold the notebook's own Variables (reached through a list, say): if anything
    # below fails, their gradients go back to what they were, so a failing cell changes nothing.
    saved = [(v, v.grad) for v in [target] + [x for f in functions_of(target) for x in f.inputs]]
    try:
        result = _differentiate(program, namespace, options, recorder, target, target_name, labelled, rows_by_var)
    except BaseException:
        for variable, grad in saved:
            variable.grad = grad
        raise
    return result, scope


def _differentiate(program: Program, namespace: Mapping[str, Any], options: Options, recorder: Recorder,
                   target: Variable, target_name: str, labelled: list, rows_by_var: list) -> GradResult:
    """Backward with the tracer (and the extras) from a clean slate; the result under the cell's names."""
    notes = []
    if target.data.ndim:
        notes.append(f"{target_name} is not a scalar (shape {target.data.shape}): it was seeded with ones, "
                     f"so each gradient is that of sum({target_name})")
    tracer = Tracer(_labeller(recorder, labelled), program.line)
    clear_grads(target)  # a backward() the cell ran itself must not add to ours
    try:
        with np.errstate(all="ignore"):  # nan and inf are flagged in the notes instead
            target.backward(retain_grad=True, hook=tracer)
    except (Exception, KeyboardInterrupt) as error:  # e.g. a user Function whose backward fails
        raise errors.from_backward(program, error, tracer.label) from error
    rows = tuple(_row(binding, label) for binding, label in rows_by_var)
    inputs = [(label.name, binding) for binding, label in rows_by_var if binding.is_input]
    result = GradResult(
        target=target_name,
        rows=rows,
        steps=tuple(tracer.steps),
        values={row.name: row.value for row in rows},
        grads={row.name: row.grad for row in rows if row.grad is not None},
        view=options.view,
    )
    _add_extras(result, options, program, namespace, recorder, target, inputs, tracer, notes)
    if options.order > 1:  # it differentiated again: the names keep their first-order gradients
        for (binding, _), row in zip(rows_by_var, rows):
            binding.variable.grad = row.grad
    notes.extend(_non_finite(rows))
    result.notes = tuple(notes)
    return result


def _add_extras(result: GradResult, options: Options, program: Program, namespace: Mapping[str, Any],
                recorder: Recorder, target: Variable, inputs: list, tracer: Tracer, notes: list) -> None:
    """--order, --check, --graph and --plot."""
    leaf_values = {b.leaf_key: b.variable.data for b in recorder.bindings if b.leaf_key is not None}  # re-runs copy

    def evaluate(changes: dict) -> float:
        return _evaluate(program, namespace, result.target, {**leaf_values, **changes})

    if options.order > 1:
        result.derivatives = extras.higher_derivatives(target, result.target, inputs, options.order, notes)
    if options.check:
        result.numerical, result.check = extras.numerical_check(evaluate, leaf_values, inputs, notes)
        result.check_tolerance = extras.CHECK_RTOL
    if options.view.graph:
        result.graph = extras.graph_of(target, tracer.label, notes)
    if options.plot:
        result.plot_png = extras.plot(evaluate, result, inputs)


def _evaluate(program: Program, namespace: Mapping[str, Any], target: str, overrides: dict) -> float:
    """sum(target) for the cell run again with other leaf values, its printing suppressed."""
    with no_grad(), contextlib.redirect_stdout(io.StringIO()):
        _, scope = execute(program, namespace, overrides)
    value = scope[target]
    return float(np.sum(value.data if isinstance(value, Variable) else value))


def execute(program: Program, namespace: Mapping[str, Any], overrides: Optional[dict] = None) -> tuple:
    """Execute the instrumented cell in a scratch scope; return the recorder and the scope."""
    recorder = Recorder(program, overrides)
    scope = dict(ENGINE_NAMES)
    scope.update(namespace)
    for use in program.free_names:
        if use.name in namespace:
            _read_from_notebook(recorder, scope, use, namespace[use.name])
    scope[NODE_HOOK] = recorder.node
    scope[LEAF_HOOK] = recorder.leaf
    try:
        with np.errstate(all="ignore"):  # nan and inf are flagged in the notes instead
            exec(program.code, scope)
    except CellError:
        raise  # from our own hooks, already located
    except (Exception, KeyboardInterrupt) as error:  # every failure of the user's code becomes a CellError
        raise errors.from_exception(program, error, recorder.non_numbers, recorder.shadowed) from error
    return recorder, scope


def _read_from_notebook(recorder: Recorder, scope: dict, use: Any, value: Any) -> None:
    """Numbers and Variables the cell reads from the notebook become fresh inputs; note the rest."""
    if use.called:  # a function, or a value hiding an engine function: never an input
        if use.name in ENGINE_NAMES and not callable(value):
            recorder.shadowed[use.name] = errors.non_number(value) or f"a {type(value).__name__}"
        return
    kind = errors.non_number(value)
    if kind is not None:
        recorder.non_numbers[use.name] = NonNumber(kind, "from the notebook", use.lineno)
    elif _is_number(value) or isinstance(value, Variable):
        data = value.data if isinstance(value, Variable) else value
        leaf, key = recorder.new_leaf(data, use.name, use.lineno)
        if isinstance(value, Variable) and value.grad is not None:  # readable (x - lr * x.grad), not added to
            leaf.grad = np.array(value.grad.data if isinstance(value.grad, Variable) else value.grad)
        scope[use.name] = leaf
        recorder.bind(Binding(use.name, None, "notebook", leaf, True, key))


def _find_target(program: Program, scope: dict, name: Optional[str], recorder: Recorder) -> Variable:
    if name is None:
        raise CellError("the cell assigns no variable to differentiate", hint="end it with e.g. y = square(x)",
                        category="target")
    if name not in program.assigned:
        assigned = ", ".join(program.assigned) or "nothing"
        raise CellError(f"unknown --target '{name}'", hint=f"the cell assigns: {assigned}", category="option")
    value = scope.get(name)
    if not isinstance(value, Variable):
        lineno = _last_line(program, name)
        _raise_for_non_numbers(program, recorder, lineno)
        raise CellError(f"the target '{name}' is a {type(value).__name__}, not a real number or a numeric array",
                        lineno, program.line(lineno), category="target")
    return value


def _raise_for_non_numbers(program: Program, recorder: Recorder, lineno: Optional[int]) -> None:
    """If line ``lineno`` used a value that cannot be an input, that is the mistake to report."""
    name = errors.named_on_line(program.line(lineno), recorder.non_numbers)
    if name is not None:
        raise errors.non_number_error(program, name, recorder.non_numbers[name], lineno)


def _last_line(program: Program, name: str) -> Optional[int]:
    lines = [a.lineno for a in program.assignments if a.name == name]
    return lines[-1] if lines else None


def _bindings(recorder: Recorder) -> list:
    """(Binding, Label) per binding; a name bound several times is 'y' last and 'y#k' before."""
    totals: dict = {}
    for binding in recorder.bindings:
        totals[binding.name] = totals.get(binding.name, 0) + 1
    seen: dict = {}
    labelled = []
    for binding in recorder.bindings:
        seen[binding.name] = seen.get(binding.name, 0) + 1
        is_last = seen[binding.name] == totals[binding.name]
        shown = binding.name if is_last else f"{binding.name}#{seen[binding.name]}"
        labelled.append((binding, Label(shown, binding.lineno), is_last))
    return labelled


def _rows(labelled: list) -> list:
    """The bindings shown as rows: the last binding of each name, and every input."""
    return [(binding, label) for binding, label, is_last in labelled if is_last or binding.is_input]


def _labeller(recorder: Recorder, labelled: list) -> Any:
    """Variable -> Label: its name if the cell bound it, else the source text that made it."""
    by_id: dict = {}
    for binding, label, _ in labelled:
        by_id.setdefault(id(binding.variable), label)  # an alias (y = x) keeps its first name

    def label(variable: Variable) -> Optional[Label]:
        key = id(variable)
        if key in by_id:
            return by_id[key]
        if key in recorder.labels:
            return recorder.labels[key]
        if variable.name is not None:
            return Label(variable.name, None)
        return None  # a literal constant

    return label


def _require_inputs(program: Program, target: Variable, name: str, rows: list, recorder: Recorder) -> None:
    inputs = {id(binding.variable) for binding, _ in rows if binding.is_input}
    if target.creator is not None and any(id(leaf) in inputs for leaf in leaves_of(target)):
        return
    lineno = _last_line(program, name)
    _raise_for_non_numbers(program, recorder, lineno)
    later = [line for line in program.bare_lines if lineno is None or line > lineno]
    if target.creator is None and later:  # `square(x)` on its own: the result was never named
        raise CellError(f"the result on line {later[-1]} is not assigned to a name, so the target is the input "
                        f"'{name}'", later[-1], program.line(later[-1]), "assign it, e.g. y = square(x)",
                        category="target")
    raise CellError(f"'{name}' does not depend on any input", lineno, program.line(lineno),
                    "assign a number to a name (x = 0.5) and compute the target from it "
                    "with the engine's functions (sin, exp, ...), not numpy's", category="target")


def _row(binding: Binding, label: Label) -> Row:
    v = binding.variable
    grad = None if v.grad is None else np.array(v.grad.data if isinstance(v.grad, Variable) else v.grad)
    return Row(label.name, binding.lineno, binding.expression, np.array(v.data), grad, binding.is_input)


def _select_inputs(rows: list, wrt: Optional[tuple]) -> list:
    """Keep every row but the inputs not named in ``wrt``."""
    if wrt is None:
        return rows
    inputs = [label.name for binding, label in rows if binding.is_input]
    unknown = [name for name in wrt if name not in inputs]
    if unknown:
        raise CellError(f"--wrt: '{unknown[0]}' is not an input of the cell", hint=f"the inputs are: {', '.join(inputs)}",
                        category="option")
    return [(binding, label) for binding, label in rows if not binding.is_input or label.name in wrt]


def _non_finite(rows: tuple) -> list:
    """A note per row whose value or gradient holds nan or inf."""
    notes = []
    for row in rows:
        for what, array in (("value", row.value), ("gradient", row.grad)):
            if array is not None and not np.all(np.isfinite(array)):
                where = f" (line {row.lineno})" if row.lineno else ""
                notes.append(f"⚠ the {what} of {row.name}{where} holds nan or inf")
    return notes
