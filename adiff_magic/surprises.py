"""Notes that explain gradients a learner would find surprising, in plain words under the table: a cell
whose own backward() ran more than once, a function evaluated at its kink, a gradient that vanished or
exploded along the way. Each is a pure function of the recorded run, returning its notes."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .fmt import fmt_short, short

VANISHED = 1e-8  # a gradient passed below this (and not 0) vanished; above EXPLODED, it exploded
EXPLODED = 1e8
SHOWN = 3  # the variables a note names at most (and how many more)

# the functions with a kink, where the gradient is a convention: class -> (is the input at its kink, what
# this engine takes there) (PyTorch and JAX take the same)
KINKS: dict = {
    "ReLU": (lambda f, xs: xs[0] == 0, "relu′(0) = 0 (the gradient is passed only where the input is above 0)"),
    "Abs": (lambda f, xs: xs[0] == 0, "abs′(0) = sign(0) = 0"),
    "Maximum": (lambda f, xs: np.broadcast_to(xs[0] == xs[1], np.broadcast_shapes(*map(np.shape, xs))),
                "at a tie each operand gets half the gradient"),
    "Minimum": (lambda f, xs: np.broadcast_to(xs[0] == xs[1], np.broadcast_shapes(*map(np.shape, xs))),
                "at a tie each operand gets half the gradient"),
    "Clip": (lambda f, xs: (xs[0] == f.x_min) | (xs[0] == f.x_max),
             "at a bound the gradient is passed whole, as inside the interval"),
    "Max": (lambda f, xs: _ties(f, xs[0], np.max), "the tied maxima share the gradient equally"),
    "Min": (lambda f, xs: _ties(f, xs[0], np.min), "the tied minima share the gradient equally"),
}


def _ties(func: Any, x: np.ndarray, reduce: Callable) -> np.ndarray:
    """Where x holds its extreme more than once along the reduced axes (a tie), else all False."""
    extreme = reduce(x, axis=func.axis, keepdims=True)
    hits = x == extreme
    many = hits.sum(axis=func.axis, keepdims=True) > 1
    return hits & many


def kink_notes(functions: list, label: Callable) -> list:
    """A note per function of the graph evaluated at its kink (relu and abs at 0, a tie of max or min, clip
    at a bound): the gradient there is a convention, and which one this engine takes."""
    notes = []
    for func in functions:
        kink = KINKS.get(type(func).__name__)
        if kink is None:
            continue
        at, convention = kink
        hits = np.asarray(at(func, [np.asarray(x.data) for x in func.inputs]))
        if not hits.any():
            continue
        output = func.outputs[0]() if func.outputs else None
        shown = label(output) if output is not None else None
        where = f"{short(shown.name, 40)}" + (f" (line {shown.lineno})" if shown.lineno else "") if shown else \
            type(func).__name__.lower()
        count = f" at {int(hits.sum()):,} of its {hits.size:,} elements" if hits.size > 1 else ""
        notes.append(f"{where} is evaluated at its kink{count}, where it has no derivative: the gradient there is a "
                     f"convention, and this engine's is {convention}")
        if len(notes) == SHOWN:
            break
    return notes


def accumulated_note(differed: list, target: str, calls: int = 0, from_target: bool = True) -> list:
    """The note for a cell whose own backward() left other gradients than one clean pass: ``differed`` is
    (name, the .grad the cell left, the clean gradient) per variable; ``calls``, how many times the cell
    called backward() (``from_target``: each on the target). [] if nothing differed."""
    if not differed:
        return []
    shown = "; ".join(f"{name}.grad was {_value(before)}, one clean backward gives {_value(after)}"
                      for name, before, after in differed[:SHOWN])
    more = f" (and {len(differed) - SHOWN:,} more)" if len(differed) > SHOWN else ""
    ratios = [_ratio(before, after) for _, before, after in differed]
    if calls >= 2 and from_target:
        why = f"the cell ran backward() {calls} times without cleargrad() in between, and .grad adds up (the book's step 14)"
        if not all(k == calls for k in ratios):  # the intermediate variables' gradients were passed on again
            why += ("; the gradients the variables in between kept were passed on again by the next backward(), so "
                    "the inputs' grew faster still")
    elif calls and not from_target:
        why = f"the cell's own backward() from another variable than the target {target} left these"
    else:
        why = "the cell's Variables came with gradients of their own (or its backward() added to them)"
    return [f"{shown}{more}: {why}. The table shows one clean backward pass from {target}, and .grad now holds it"]


def _ratio(before: Any, after: Any) -> Optional[int]:
    """k when before = k·after for a whole k, else None."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape or not np.any(after):
        return None
    k = np.sum(before * after) / np.sum(after * after)
    whole = int(round(float(k)))
    return whole if whole >= 1 and np.allclose(before, whole * after, rtol=1e-9, atol=0) else None


def _value(value: Any) -> str:
    array = np.asarray(value)
    return fmt_short(array, 6) if array.ndim == 0 else f"an array of shape {array.shape}"


def vanishing_notes(steps: tuple, rows: tuple, target: str) -> list:
    """For an input whose gradient ended below VANISHED (and not 0) or above EXPLODED: where a gradient passed
    along the backward pass first crossed that bound (what came into that step had not); a small term
    among large ones (a series) is not a vanished gradient, so nothing is said unless an input's is."""
    notes = []
    for what, ended, crossed in (("vanished", lambda g: 0 < g < VANISHED, lambda i, p: 0 < p < VANISHED <= i),
                                 ("exploded", lambda g: g > EXPLODED, lambda i, p: p > EXPLODED >= i)):
        inputs = [row for row in rows if row.is_input and row.grad is not None and ended(_largest((row.grad,)))]
        if not inputs:  # the common case: the steps (read lazily, see trace.py) are not walked at all
            continue
        step, flow = next(((step, flow) for step in steps for flow in step.flows
                           if crossed(_largest(step.gy), _largest((flow.grad,)))), (None, None))
        if step is not None:
            row = inputs[0]
            size = fmt_short(_largest((row.grad,)), 3)
            where = f" (line {step.lineno})" if step.lineno else ""
            bound = f"{VANISHED:g}" if what == "vanished" else f"{EXPLODED:g}"
            notes.append(f"d{target}/d{row.name} is {size}: the gradient {what} on its way; it first passed {bound} at "
                         f"step {step.index}, {step.function}.backward{where}, where {fmt_short(_largest(step.gy), 3)} "
                         f"came in and d{target}/d{short(flow.input, 40)} = {fmt_short(_largest((flow.grad,)), 3)} "
                         "went on")
    return notes


def _largest(arrays: tuple) -> float:
    values = [np.max(np.abs(a)) for a in arrays if a is not None and np.size(a)]
    finite = [float(v) for v in values if np.isfinite(v)]
    return max(finite) if finite else 0.0
