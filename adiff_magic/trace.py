"""Records the backward pass: a Tracer is the hook given to ``Variable.backward``; it turns each
function's backward into a BackwardStep, named with the cell's own variable names.

The hook runs once per backward step, so it only keeps the step's numbers (private copies, taken
before the engine or the notebook can change them); a step's fields are built from them the first
time one is read, and the substituted local derivatives (text) the first time ``Flow.local`` is
read. A rendering reads only the steps it shows."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Optional

import numpy as np

from engine import Function, Variable, no_grad

from .model import BackwardStep, Flow, Label, Local, Operands



Labeller = Callable[[Variable], Optional[Label]]  # None: a literal constant, not shown


ARRAY_FIELDS = ("axis", "keepdims", "shape", "axes", "index")  # the parameters an array step's matrix form uses

NO_RULE = "(no rule given: the local derivative is read as passed ÷ incoming)"


class Tracer:
    """A backward hook that records one BackwardStep per function backward, in execution order."""

    def __init__(self, label: Labeller, line: Callable[[Optional[int]], str]) -> None:
        self.label = label
        self.line = line  # lineno -> the cell's source line
        self.steps: list = []
        self.totals: dict = {}  # Variable -> its gradient so far (kept as _kept stores it)
        # per step, for the recording (record.py): (its Function, its first incoming gradient as kept, its
        # labelled inputs' raw flows, (index, passed) of its unlabelled ones or None)
        self.records: list = []
        self._lines: dict = {}  # lineno -> line, asked of ``line`` once per line

    def __call__(self, func: Function, gys: tuple, gxs: tuple, accumulated: tuple) -> None:
        # Called once per backward step, so it formats nothing: it keeps the labels and the numbers
        # (see _kept and _scalar_now) in one tuple, which _TracedStep turns into fields when read.
        label = self.label
        refs = func.outputs
        if len(refs) == 1:  # the common case, kept free of loops
            y = refs[0]()
            shown = label(y) if y is not None else None
            labelled = shown is not None
            output, lineno = (shown.name, shown.lineno) if labelled else ("", None)
            ys = _scalar_now(y.data) if y is not None else None
        else:
            shown = [label(y) for y in [ref() for ref in refs] if y is not None]
            shown = [s for s in shown if s is not None]
            labelled = bool(shown)
            output, lineno = ", ".join(s.name for s in shown), shown[0].lineno if shown else None
            ys = None  # several outputs: nothing is substituted
        inputs = func.inputs
        # the numbers of the local derivative: one-element inputs and output, else nothing is substituted
        xs = tuple([_scalar_now(x.data) for x in inputs]) if ys is not None else None
        flows = []
        unlabelled = None
        totals = self.totals
        for i in range(min(len(inputs), len(gxs), len(accumulated))):
            gx = gxs[i]
            if gx is None:
                continue
            x = inputs[i]
            passed = gx if type(gx) is np.float64 else _kept(gx)
            acc = accumulated[i]
            previous = None
            if not acc:
                total = passed
            else:
                # the running total after this flow: x.grad itself may already hold a later flow of
                # this same step (y = a * a passes to a twice); a gradient set before this backward
                # started is only known as x.grad
                previous = totals.get(x)
                total = previous + passed if previous is not None else _array(x.grad)
            totals[x] = total
            shown = label(x)
            if shown is not None:
                flows.append((shown.name, i, passed, acc, total, previous))
            elif unlabelled is None:
                unlabelled = [(i, passed)]  # a literal constant: its edge's local derivative needs it
            else:
                unlabelled.append((i, passed))
        source = ""
        if labelled:
            lines = self._lines
            source = lines[lineno] if lineno in lines else lines.setdefault(lineno, self.line(lineno))
        kind = type(func).__name__
        gy = (gys[0] if type(gys[0]) is np.float64 else _kept(gys[0]),) if len(gys) == 1 else \
            tuple([_kept(g) for g in gys])
        step = _new_step(_TracedStep)
        local = (func.local, func.local_fields()) if xs is not None and func.local else None
        array_step = xs is None or None in xs  # only these pay for their operands
        operands = self._operands(func, y if len(refs) == 1 else None) if array_step else None
        flows = tuple(flows)
        _set_raw(step, (len(self.steps) + 1, kind, output, lineno, source, gy, func.rule_text() or NO_RULE,
                        flows, xs, ys, local, operands))
        self.steps.append(step)
        self.records.append((func, gy[0], flows, unlabelled))

    def _operands(self, func: Function, y: Any) -> Operands:
        """An array step's Operands (only array steps pay for it): names, shapes, templates, parameters."""
        shown = [self.label(x) for x in func.inputs]
        templates = tuple([template for template, _ in func.local]) if func.local else ()
        fields = {key: getattr(func, key) for key in ARRAY_FIELDS if hasattr(func, key)}
        fields.update(func.local_fields())
        constants = {i: float(np.asarray(x.data).reshape(())) for i, (x, s) in enumerate(zip(func.inputs, shown))
                     if s is None and np.size(x.data) == 1}
        return Operands(tuple([s.name if s is not None else None for s in shown]),
                        tuple([np.shape(x.data) for x in func.inputs]),
                        np.shape(y.data) if y is not None else None, templates, fields, constants)

    def release(self) -> None:
        """Forget the Functions and the running totals (the recording is made): the graph can be freed."""
        self.records, self.totals = [], {}


_F64 = np.dtype(np.float64)


def _kept(value: Any) -> Any:
    """``value`` as a step keeps it until it is read: one-element float64 gradients as numpy floats
    (immutable), float64 arrays as private copies, anything else as _array converts it."""
    kind = type(value)
    if kind is np.float64:
        return value
    if kind is np.ndarray and value.dtype is _F64:
        return value[()] if value.ndim == 0 else value.copy("K")  # "K": the layout np.array(copy=True) keeps
    return _array(value)


def _shown(kept: Any) -> np.ndarray:
    """A kept gradient as the step shows it: an array (as _array gives it)."""
    return np.array(kept) if type(kept) is np.float64 else kept


def _scalar_now(value: Any) -> Any:
    """A one-element value, as an immutable numpy scalar (the notebook may change an array in place
    later: x.data -= lr * x.grad), or None."""
    if type(value) is np.float64:
        return value
    if type(value) is np.ndarray:
        return value[()] if value.ndim == 0 else None
    value = value.data if isinstance(value, Variable) else value
    return np.asarray(value)[()] if np.ndim(value) == 0 else None


class _TracedStep(BackwardStep):
    """A BackwardStep recorded by a Tracer. Its fields are empty slots until one is read: that calls
    __getattr__, which fills them all from ``_raw`` (a tuple of strings and numbers, which the garbage
    collector soon stops tracking). A Flow's local derivative is written when first read."""

    __slots__ = ("_raw",)

    def __repr__(self) -> str:  # as a step built by hand
        return repr(BackwardStep(*self.__reduce__()[1]))

    def __reduce__(self) -> tuple:  # copies and pickles are plain BackwardSteps
        return BackwardStep, tuple([getattr(self, name) for name in _STEP_FIELDS])

    def __getattr__(self, name: str) -> Any:  # only for fields not read yet (and absent names)
        if name not in _STEP_FIELDS:
            raise AttributeError(name)
        try:
            raw = object.__getattribute__(self, "_raw")
        except AttributeError:
            raise AttributeError(name) from None
        index, function, output, lineno, source, gys, rule, flows, xs, ys, local, matrix = raw
        names = None
        if xs is not None:  # the operands as the cell names them; a constant (no label) is None
            operands = [None] * len(xs)
            for label, i, *_ in flows:
                operands[i] = label
            names = (output or None, tuple(operands))
        flows = tuple([_TracedFlow(label, passed, acc, total, i, (local, i, xs, ys, gys[0], passed, names))
                       for label, i, passed, acc, total, _ in flows])
        values = (index, function, output, lineno, source, tuple([_shown(g) for g in gys]), rule, flows, matrix)
        for field_name, value in zip(_STEP_FIELDS, values):
            object.__setattr__(self, field_name, value)
        object.__delattr__(self, "_raw")
        return object.__getattribute__(self, name)


_STEP_FIELDS = tuple(field.name for field in fields(BackwardStep))  # in order
_new_step = object.__new__
_set_raw = _TracedStep._raw.__set__  # type: ignore[attr-defined]  # the slot itself: no __init__ call per step


class _TracedFlow(Flow):
    """A Flow recorded by a Tracer: its local derivative is written on first read."""

    __slots__ = ("_numbers",)

    def __repr__(self) -> str:  # as a flow built by hand
        return repr(Flow(*self.__reduce__()[1]))

    def __reduce__(self) -> tuple:  # copies and pickles are plain Flows
        return Flow, (self.input, self.local, self.grad, self.accumulated, self.total, self.position)

    def __init__(self, input: str, passed: Any, accumulated: bool, total: Any, position: int, numbers: tuple) -> None:
        grad = _shown(passed)
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "input", input)
        object.__setattr__(self, "grad", grad)
        object.__setattr__(self, "accumulated", accumulated)
        object.__setattr__(self, "total", total if accumulated else grad)
        object.__setattr__(self, "_numbers", numbers)

    def __getattr__(self, name: str) -> Any:
        if name != "local":
            raise AttributeError(name)
        try:
            numbers = object.__getattribute__(self, "_numbers")
        except AttributeError:
            raise AttributeError(name) from None
        local = _local(*numbers)
        object.__setattr__(self, "local", local)
        object.__delattr__(self, "_numbers")
        return local


def _array(value: Any) -> np.ndarray:
    if isinstance(value, Variable):
        value = value.data
    return np.array(value, dtype=np.result_type(value, np.float64), copy=True)


# ---------------------------------------------------------------- substituted local derivatives
# Each Function class writes its own local derivative over a step's numbers (``Function.local``);
# here the numbers are put in.


def local_derivative(func: Function, index: int, gy: Any, gx: Any, label: Optional[Labeller] = None) -> Optional[Local]:
    """The Local of input ``index`` of ``func`` with its numbers now; None for arrays.

    For functions without a template (a user's own, Power...) the value is the ratio gx / gy.
    """
    outputs = [ref() for ref in func.outputs]
    y = outputs[0] if len(outputs) == 1 else None
    ys = _scalar_now(y.data) if y is not None else None
    xs = tuple(_scalar_now(x.data) for x in func.inputs) if ys is not None else None
    local = (func.local, func.local_fields()) if func.local else None
    label = label or (lambda v: None)
    shown = [label(v) for v in [y, *func.inputs]]
    names = tuple(s.name if s is not None else None for s in shown)
    return _local(local, index, xs, ys, gy, gx, (names[0], names[1:]))


def unit_local(func: Function, index: int) -> Optional[float]:
    """∂output/∂input[index] of a function of single numbers, as its own backward gives it for an incoming
    gradient of 1: where its template and passed ÷ incoming say nothing (no template, and 0 came in:
    ReLU at a kink behind a factor 0). None if that backward does not run on plain numbers."""
    try:
        with no_grad(), np.errstate(all="ignore"):
            gxs = func.backward(np.float64(1.0))
        gxs = gxs if isinstance(gxs, tuple) else (gxs,)
        gx = gxs[index]
        return 0.0 if gx is None else float(np.asarray(gx.data if isinstance(gx, Variable) else gx))
    except Exception:  # a user's backward that needs Variables, or raises on a plain number
        return None


def _local(local: Optional[tuple], index: int, xs: Optional[tuple], y: Any, gy: Any, gx: Any,
           names: Optional[tuple]) -> Optional[Local]:
    """The Local from the numbers a Tracer kept: the function's (templates, fields), the inputs' and the
    output's values (None where one is not a single number), the incoming and passed gradients, and
    (output label, input labels)."""
    if xs is None or y is None or any(x is None for x in xs):
        return None
    xs = [float(x) for x in xs]
    ratio = _ratio(gx, gy)
    passed_over_incoming = None if ratio is None else Local("", {}, {}, ratio)
    if local is None or index >= len(local[0]):
        return passed_over_incoming
    (template, value), fields = local[0][index], local[1]
    placeholders = ("x",) if len(xs) == 1 else ("a", "b") if len(xs) == 2 else ()
    numbers = {**dict(zip(placeholders, xs)), "y": float(y), **fields}
    operand_names = {**dict(zip(placeholders, names[1] if names else (None,) * len(xs))),
                     "y": names[0] if names else None}
    try:
        template.format(**numbers)  # a template this step's numbers do not fit shows the ratio instead
        with np.errstate(all="ignore"):  # numpy floats: 1/0 is inf, shown as such
            number = ratio if value is None else value(*[np.float64(v) for v in xs], np.float64(y), **fields)
    except (KeyError, IndexError, TypeError, ValueError):
        return passed_over_incoming
    if number is None:
        return passed_over_incoming
    return Local(template, operand_names, numbers, float(number))


def _scalar(value: Any) -> Optional[float]:
    value = value.data if isinstance(value, Variable) else value
    return float(value) if np.ndim(value) == 0 else None


def _ratio(gx: Any, gy: Any) -> Optional[float]:
    gx, gy = _scalar(gx), _scalar(gy)
    if gx is None or gy is None or gy == 0:
        return None
    return gx / gy
