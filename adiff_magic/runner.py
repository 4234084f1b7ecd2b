"""Program + namespace -> GradResult: runs the cell on the engine in a scratch namespace, runs
backward with a Tracer, and collects values and gradients under the cell's own names.

The notebook's namespace is only read here; the magic copies names back after a success."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

import numpy as np

import engine
from engine import Variable, no_grad

from .parser import FILENAME, LEAF_HOOK, NODE_HOOK, CellError, Program, check_names
from .result import GradResult, Row, View
from .trace import Label, Tracer

ENGINE_NAMES = {name: getattr(engine, name) for name in engine.__all__ + ["sum", "max", "min", "abs", "pow"]}
ENGINE_NAMES["np"] = np
CHECK_EPS = 1e-6
CHECK_RTOL = 1e-5
CHECK_MAX_ELEMENTS = 100  # per input; larger inputs are checked on their first elements, and the output says so


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
        self.keep: list = []  # keeps labelled Variables alive, so that their ids stay unique
        self.overrides = overrides or {}
        self.leaf_count = 0
        self.texts = {(a.lineno, a.name): a.text for a in program.assignments}

    def node(self, value: Any, index: int) -> Any:
        if isinstance(value, Variable) and id(value) not in self.labels and value.creator is not None:
            expression = self.program.expressions[index]
            self.labels[id(value)] = Label(expression.text, expression.lineno)
            self.keep.append(value)
        return value

    def leaf(self, value: Any, name: str, lineno: int) -> Any:
        key = None
        if _is_number(value):
            value, key = self.new_leaf(value, name)
        is_input = isinstance(value, Variable) and value.creator is None and id(value) not in self.labels
        if isinstance(value, Variable):  # inputs, and Variables the user made: Variable(np.array(0.5))
            text = self.texts.get((lineno, name), "")
            self.bindings.append(Binding(name, lineno, text, value, is_input, key))
            self.keep.append(value)
            if value.name is None:
                value.name = name
        return value

    def new_leaf(self, value: Any, name: str) -> tuple:
        """A leaf Variable for ``value`` (or for its override), and its key."""
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
    target = _find_target(program, scope, target_name)
    rows_by_var = _select_inputs(_bindings(recorder), options.wrt)
    _require_inputs(program, target, target_name, rows_by_var)
    notes = []
    if target.data.ndim:
        notes.append(f"{target_name} is not a scalar (shape {target.data.shape}): it was seeded with ones, "
                     f"so each gradient is that of sum({target_name})")
    tracer = Tracer(_labeller(recorder, rows_by_var))
    target.grad = None
    target.backward(retain_grad=True, hook=tracer)
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
    if options.order > 1:
        result.derivatives = higher_derivatives(target, target_name, inputs, options.order, notes)
        for (binding, _), row in zip(rows_by_var, rows):  # the names keep their first-order gradients
            binding.variable.grad = row.grad
    if options.check:
        result.numerical, result.check = numerical_check(program, namespace, recorder, target_name, inputs, notes)
    if options.view.graph:
        result.graph = graph_of(target, tracer.label, notes)
    if options.plot:
        result.plot_png = plot(program, namespace, target_name, inputs, result)
    notes.extend(_non_finite(rows))
    result.notes = tuple(notes)
    return result, scope


def execute(program: Program, namespace: Mapping[str, Any], overrides: Optional[dict] = None) -> tuple:
    """Execute the instrumented cell in a scratch scope; return the recorder and the scope."""
    recorder = Recorder(program, overrides)
    scope = dict(ENGINE_NAMES)
    scope.update(namespace)
    for use in program.free_names:  # numbers and Variables read from the notebook are the cell's inputs
        value = namespace.get(use.name)
        if _is_number(value) or isinstance(value, Variable):
            data = value.data if isinstance(value, Variable) else value
            scope[use.name], key = recorder.new_leaf(np.array(data), use.name)
            recorder.bindings.append(Binding(use.name, None, "notebook", scope[use.name], True, key))
    scope[NODE_HOOK] = recorder.node
    scope[LEAF_HOOK] = recorder.leaf
    try:
        exec(program.code, scope)
    except Exception as error:  # noqa: BLE001 - every failure of the user's code becomes a CellError
        raise cell_error(program, error) from error
    return recorder, scope


def cell_error(program: Program, error: BaseException) -> CellError:
    """The CellError for an exception raised while running the cell, at the cell line it came from."""
    lineno = _cell_line(error)
    message = str(error) or type(error).__name__
    hint = ""
    if isinstance(error, TypeError) and "does not support ufuncs" in message:
        message, hint = "a numpy function was given an engine Variable", "use the engine's function, e.g. sin(x) instead of np.sin(x)"
    elif isinstance(error, NameError):
        message = f"undefined name: {message}"
    else:
        message = f"{type(error).__name__}: {message}"
    return CellError(message, lineno, program.line(lineno), hint)


def _cell_line(error: BaseException) -> Optional[int]:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == FILENAME]
    return frames[-1].lineno if frames else None


def _find_target(program: Program, scope: dict, name: Optional[str]) -> Variable:
    if name is None:
        raise CellError("the cell assigns no variable to differentiate", hint="end it with e.g. y = square(x)")
    if name not in program.assigned:
        assigned = ", ".join(program.assigned) or "nothing"
        raise CellError(f"unknown --target '{name}'", hint=f"the cell assigns: {assigned}")
    value = scope.get(name)
    if not isinstance(value, Variable):
        lineno = _last_line(program, name)
        raise CellError(f"the target '{name}' is a {type(value).__name__}, not a number", lineno, program.line(lineno))
    return value


def _last_line(program: Program, name: str) -> Optional[int]:
    lines = [a.lineno for a in program.assignments if a.name == name]
    return lines[-1] if lines else None


def _bindings(recorder: Recorder) -> list:
    """(Binding, Label) per row: the last binding of each name, and earlier bindings of inputs."""
    last: dict = {}
    for binding in recorder.bindings:
        last[binding.name] = binding
    counts: dict = {}
    rows = []
    for binding in recorder.bindings:
        counts[binding.name] = counts.get(binding.name, 0) + 1
        is_last = last[binding.name] is binding
        if is_last or binding.is_input:
            shown = binding.name if is_last else f"{binding.name}#{counts[binding.name]}"
            rows.append((binding, Label(shown, binding.lineno)))
    return rows


def _labeller(recorder: Recorder, rows: list) -> Any:
    by_id = {id(binding.variable): label for binding, label in rows}

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


def _require_inputs(program: Program, target: Variable, name: str, rows: list) -> None:
    inputs = {id(binding.variable) for binding, _ in rows if binding.is_input}
    if not any(id(leaf) in inputs for leaf in _leaves(target)):
        lineno = _last_line(program, name)
        raise CellError(f"'{name}' does not depend on any input", lineno, program.line(lineno),
                        "assign a number to a name (x = 0.5) and compute the target from it")


def _leaves(y: Variable) -> Iterator[Variable]:
    """The leaf Variables ``y`` depends on (iterative walk)."""
    seen, stack = set(), [y]
    while stack:
        v = stack.pop()
        if v.creator is None:
            yield v
            continue
        func = v.creator
        if id(func) not in seen:
            seen.add(id(func))
            stack.extend(func.inputs)


def _row(binding: Binding, label: Label) -> Row:
    v = binding.variable
    grad = None if v.grad is None else np.array(v.grad.data if isinstance(v.grad, Variable) else v.grad)
    return Row(label.name, binding.lineno, binding.expression, np.array(v.data), grad, binding.is_input)
