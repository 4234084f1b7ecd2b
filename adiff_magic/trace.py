"""Records the backward pass: a Tracer is the hook given to ``Variable.backward``; it turns each
function's backward into a BackwardStep, named with the cell's own variable names."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from engine import Function, Variable


@dataclass(frozen=True)
class Label:
    """How the cell refers to a variable: ``name`` (e.g. 'b' or 'exp(a)') and the line that made it."""

    name: str
    lineno: Optional[int]


@dataclass(frozen=True)
class Flow:
    """The gradient one step passes to one input."""

    input: str  # the input's label
    local: str  # the local derivative with this step's numbers substituted ('' if not shown)
    grad: np.ndarray  # the gradient passed: incoming gradient times local derivative
    accumulated: bool  # added to a gradient the input already had from another path
    total: np.ndarray  # the input's gradient after this step


@dataclass(frozen=True)
class BackwardStep:
    """One function's backward: who ran, with what incoming gradient, which rule, what it passed."""

    index: int  # 1-based, in execution order
    function: str  # e.g. 'Square'
    output: str  # label of the function's output (e.g. 'y'), joined with ', ' for several
    lineno: Optional[int]  # the cell line that called the function
    source: str  # that line's text
    gy: tuple  # incoming gradient(s), one per output
    rule: str  # the local rule, e.g. 'd/dx x² = 2x'
    flows: tuple  # a Flow per input


Labeller = Callable[[Variable], Optional[Label]]  # None: a literal constant, not shown


class Tracer:
    """A backward hook that records one BackwardStep per function backward, in execution order."""

    def __init__(self, label: Labeller, line: Callable[[Optional[int]], str]) -> None:
        self.label = label
        self.line = line  # lineno -> the cell's source line
        self.steps: list = []
        self.totals: dict = {}  # id(variable) -> its gradient so far

    def __call__(self, func: Function, gys: tuple, gxs: tuple, accumulated: tuple) -> None:
        outputs = [ref() for ref in func.outputs]
        out_labels = [self.label(y) for y in outputs if y is not None]
        out_labels = [label for label in out_labels if label is not None]
        flows = []
        for i, (x, gx, acc) in enumerate(zip(func.inputs, gxs, accumulated)):
            if gx is None:
                continue
            # the running total after this flow: x.grad itself may already hold a later flow of
            # this same step (y = a * a passes to a twice)
            previous = self.totals.get(id(x))
            passed = _array(gx)
            if not acc:
                total = passed
            else:  # a gradient set before this backward started is only known as x.grad
                total = previous + passed if previous is not None else _array(x.grad)
            self.totals[id(x)] = total
            label = self.label(x)
            if label is not None:
                flows.append(Flow(label.name, local_derivative(func, i, gys[0], gx), passed, acc, total))
        self.steps.append(
            BackwardStep(
                index=len(self.steps) + 1,
                function=type(func).__name__,
                output=", ".join(label.name for label in out_labels),
                lineno=out_labels[0].lineno if out_labels else None,
                source=self.line(out_labels[0].lineno) if out_labels else "",
                gy=tuple(_array(g) for g in gys),
                rule=func.rule_text() or "(no rule given)",
                flows=tuple(flows),
            )
        )


def _array(value: Any) -> np.ndarray:
    if isinstance(value, Variable):
        value = value.data
    return np.array(value, dtype=np.result_type(value, np.float64), copy=True)


# ---------------------------------------------------------------- substituted local derivatives

def fmt_number(value: Any) -> str:
    """A float in its shortest exact form, without a trailing '.0'."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


_fmt = fmt_number


def _unary(template: str, local: Callable[[float, float], float]) -> Callable:
    """A substitution for a one-input function: template over x and y, plus the local value."""

    def substitute(x: float, y: float) -> str:
        with np.errstate(all="ignore"):  # numpy floats: 1/0 is inf, shown as such
            value = _fmt(local(np.float64(x), np.float64(y)))
        text = template.format(x=_fmt(x), y=_fmt(y))
        return text if text == value else f"{text} = {value}"

    return substitute


_UNARY_SUBSTITUTIONS = {
    "Square": _unary("2·{x}", lambda x, y: 2 * x),
    "Exp": _unary("e^{x}", lambda x, y: y),
    "Log": _unary("1/{x}", lambda x, y: 1 / x),
    "Sin": _unary("cos({x})", lambda x, y: np.cos(x)),
    "Cos": _unary("-sin({x})", lambda x, y: -np.sin(x)),
    "Tan": _unary("1 + {y}²", lambda x, y: 1 + y * y),
    "Tanh": _unary("1 - {y}²", lambda x, y: 1 - y * y),
    "Sqrt": _unary("1/(2·{y})", lambda x, y: 0.5 / y),
    "Sigmoid": _unary("{y}·(1 - {y})", lambda x, y: y * (1 - y)),
    "Neg": _unary("-1", lambda x, y: -1.0),
}


def _pow_substitution(func: Function, x: float) -> str:
    c = func.c
    with np.errstate(all="ignore"):
        value = c * np.float64(x) ** (c - 1)
    return f"{_fmt(c)}·{_fmt(x)}^{_fmt(c - 1)} = {_fmt(value)}"

_BINARY_SUBSTITUTIONS = {  # (function, input index) -> the local derivative over a and b
    ("Add", 0): "1", ("Add", 1): "1",
    ("Sub", 0): "1", ("Sub", 1): "-1",
    ("Mul", 0): "b = {b}", ("Mul", 1): "a = {a}",
    ("Div", 0): "1/b = 1/{b}", ("Div", 1): "-a/b² = -{a}/{b}²",
}


def local_derivative(func: Function, index: int, gy: Any, gx: Any) -> str:
    """The local derivative for input ``index`` with the numbers of this step substituted.

    Scalar steps only; for arrays the rule alone is shown. For functions without a template
    (user-defined ones, Power...) the local value is the ratio gx / gy.
    """
    xs = [_scalar(x.data) for x in func.inputs]
    outputs = [ref() for ref in func.outputs]
    if None in xs or len(outputs) != 1 or outputs[0] is None or _scalar(outputs[0].data) is None:
        return ""
    name = type(func).__name__
    if name == "Pow" and np.ndim(func.c) == 0:
        return _pow_substitution(func, xs[0])
    if name in _UNARY_SUBSTITUTIONS and len(xs) == 1:
        return _UNARY_SUBSTITUTIONS[name](xs[0], _scalar(outputs[0].data))
    value = _ratio(gx, gy)
    template = _BINARY_SUBSTITUTIONS.get((name, index))
    if template is None or len(xs) != 2:
        return "" if value is None else _fmt(value)
    text = template.format(a=_fmt(xs[0]), b=_fmt(xs[1]))
    if value is None or text.rsplit(" = ", 1)[-1] == _fmt(value):
        return text
    return f"{text} = {_fmt(value)}"


def _scalar(value: Any) -> Optional[float]:
    value = value.data if isinstance(value, Variable) else value
    return float(value) if np.ndim(value) == 0 else None


def _ratio(gx: Any, gy: Any) -> Optional[float]:
    gx, gy = _scalar(gx), _scalar(gy)
    if gx is None or gy is None or gy == 0:
        return None
    return gx / gy
