"""The options that need more than the one backward pass, each a pure function of the recorded run
that returns its own data and notes: --order differentiates again with ``engine.grad`` (no ``.grad``
is read or written), --check and --plot re-evaluate the recorded graph with other input values
(``engine.Replay``: the cell's statements do not run again). --graph is drawn from the Recording."""
from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Optional

import numpy as np

from engine import Replay, Variable, functions_of, grad, is_engine_function

from .errors import CellError

Progress = Callable[[str, int, int], None]  # (what, done, total), called as a long pass goes on


def no_progress(what: str, done: int, total: int) -> None:
    """The Progress that shows nothing."""


CHECK_EPS = 1e-6
CHECK_RTOL = 1e-5  # relative tolerance of --check
CHECK_ATOL = 1e-6  # and its absolute floor, times max(1, |target|): central differences are off by ~eps there
MAX_DERIVATIVE_FUNCTIONS = 20_000  # --order stops before differentiating a larger graph, and says so
CHECK_MAX_ELEMENTS = 100  # per input; larger inputs are checked on their first elements, and the output says so


# ================================================================ --order


def higher_derivatives(target: Variable, name: str, inputs: list, order: int,
                       progress: Progress = no_progress) -> tuple:
    """({input: [1st, ..., order-th derivative of the target]}, notes) for each scalar input.

    A derivative that cannot be computed is None, and a note says why.
    """
    if target.data.ndim:
        raise CellError(f"--order needs a scalar target; '{name}' has shape {target.data.shape}", category="option")
    derivatives, notes = {}, []
    for input_name, binding in inputs:
        if binding.variable.data.ndim:
            notes.append(f"--order skips '{input_name}': it is not a scalar")
            continue
        values, why = _derivatives(target, binding.variable, order, lambda k: progress(
            f"--order for '{input_name}'", k, order))
        derivatives[input_name] = values + [None] * (order - len(values))
        if why:
            notes.append(f"--order for '{input_name}' stops at order {len(values)}: {why}")
    user_functions = sorted({type(f).__name__ for f in functions_of(target) if not is_engine_function(f)})
    if user_functions:
        notes.append(f"higher derivatives through {', '.join(user_functions)} are exact only if its backward "
                     "is written with engine functions of its inputs")
    return derivatives, notes


def _derivatives(y: Variable, x: Variable, order: int, reached: Callable[[int], None]) -> tuple:
    """The first ``order`` derivatives of y with respect to x, and why they stopped early ('' if not)."""
    values: list = []
    detached: list = []

    def watch(func: Any, gys: tuple, gxs: tuple, accumulated: tuple) -> None:
        if any(gx is not None and not isinstance(gx, Variable) for gx in gxs):
            detached.append(type(func).__name__)

    derivative = y
    for k in range(order):
        try:
            derivative, = grad(derivative, x, create_graph=True, hook=watch)
        except Exception as error:  # a user's backward that works on arrays only
            return values, f"differentiating again failed: {type(error).__name__}: {error}"
        values.append(float(derivative.data))
        reached(k + 1)
        if detached:
            return values, (f"{detached[0]}.backward returned a plain array, not a Variable, so its result "
                            "cannot be differentiated again")
        if k + 1 < order and _larger_than(derivative, MAX_DERIVATIVE_FUNCTIONS):
            return values, (f"the graph of that derivative already has over {MAX_DERIVATIVE_FUNCTIONS:,} "
                            "functions, and it grows with each order")
    return values, ""


def _larger_than(y: Variable, limit: int) -> bool:
    return len(list(islice(functions_of(y), limit))) == limit


# ================================================================ --check


@dataclass(frozen=True)
class Check:
    """Central differences against backprop, per input."""

    numerical: dict  # name -> central-difference gradient (nan where not checked)
    errors: dict  # name -> largest relative error over the checked elements (nan if any is nan)
    passed: dict  # name -> bool: every checked element within tolerance, and nothing nan


def numerical_check(replay: Replay, inputs: list, grads: dict, progress: Progress = no_progress) -> tuple:
    """(Check, notes): central differences of sum(target) for each input, on the recorded graph."""
    numerical, errors, passed, notes = {}, {}, {}, []
    total = sum(min(binding.variable.data.size, CHECK_MAX_ELEMENTS) for _, binding in inputs)
    done = 0
    y_scale = max(1.0, float(np.max(np.abs(replay.output.data), initial=0.0)))
    for name, binding in inputs:
        x = binding.variable
        if x.data.size > CHECK_MAX_ELEMENTS:
            notes.append(f"--check: '{name}' has {x.data.size} elements; only the first {CHECK_MAX_ELEMENTS} were "
                         "checked (the others show nan in the central-difference column)")
        indices = list(islice(np.ndindex(x.data.shape), CHECK_MAX_ELEMENTS))  # the first ones in C order
        numeric = _central_difference(replay, x, indices, lambda k: progress(
            "--check: central differences", done + k, total))
        done += len(indices)
        checked = slice(0, len(indices))  # of the flattened arrays (no copy of a large input)
        a = np.broadcast_to(grads.get(name, 0.0), x.data.shape).flat[checked]
        n = numeric.flat[checked]
        gap = np.abs(a - n)
        scale = np.maximum(np.abs(a), np.abs(n))
        with np.errstate(all="ignore"):
            relative = np.where(gap == 0, 0.0, gap / scale)
        finite = np.isfinite(a) & np.isfinite(n)
        errors[name] = float(np.max(relative, initial=0.0)) if finite.all() else float("nan")
        passed[name] = bool(finite.all() and np.all(gap <= CHECK_ATOL * y_scale + CHECK_RTOL * scale))
        numerical[name] = numeric
    notes.append(f"--check: central differences with eps = {CHECK_EPS} on the recorded graph; an input passes when "
                 f"|backprop − central| ≤ {CHECK_ATOL}·max(1, |target|) + {CHECK_RTOL}·|gradient| at every "
                 "element, and a nan never passes")
    return Check(numerical, errors, passed), notes


def _central_difference(replay: Replay, x: Variable, indices: list, reached: Callable[[int], None]) -> np.ndarray:
    grad = np.full(x.data.shape, np.nan)
    for k, index in enumerate(indices, 1):
        high, low = x.data.copy(), x.data.copy()
        high[index] += CHECK_EPS
        low[index] -= CHECK_EPS
        grad[index] = (np.sum(replay({x: high})) - np.sum(replay({x: low}))) / (2 * CHECK_EPS)
        reached(k)
    return grad


def replay_notes(tested_lines: set, what: str) -> list:
    """What re-evaluating the recorded graph means for this cell (for --check and --plot)."""
    notes = []
    if tested_lines:
        lines = ", ".join(str(n) for n in sorted(tested_lines))
        notes.append(f"{what} re-evaluates the recorded graph, so it keeps the branches the cell took and the "
                     f"results of its comparisons on values (line {lines}) whatever the new input values")
    return notes


# ================================================================ --plot


def plot(replay: Replay, target: str, y0: float, inputs: list, grads: dict) -> bytes:
    """A PNG of sum(target) around the one scalar input, on the recorded graph, with its tangent."""
    scalars = [(name, b) for name, b in inputs if b.variable.data.ndim == 0]
    if len(scalars) != 1 or np.ndim(y0):
        raise CellError("--plot needs one scalar input and a scalar target",
                        hint=f"the cell has {len(scalars)} scalar inputs; choose one with --wrt", category="option")
    try:
        from matplotlib.figure import Figure  # not pyplot: the notebook's own plotting state is left alone
    except ImportError:
        raise CellError("--plot needs matplotlib", hint="pip install matplotlib", category="option") from None
    name, binding = scalars[0]
    x0 = float(binding.variable.data)
    y0, slope = float(y0), float(grads.get(name, 0.0))
    span = max(1.0, abs(x0)) * 0.5
    xs = np.linspace(x0 - span, x0 + span, 61)
    ys = [float(replay({binding.variable: np.array(x)})) for x in xs]
    figure = Figure(figsize=(5, 3.2), dpi=100)
    axes = figure.subplots()
    axes.plot(xs, ys, color=PLOT_CURVE, label=f"{target}({name})")
    axes.plot(xs, y0 + slope * (xs - x0), "--", color=PLOT_TANGENT,
              label=f"tangent, slope d{target}/d{name} = {slope:.6g}")
    axes.plot([x0], [y0], "o", color=PLOT_TANGENT)
    axes.set_xlabel(name, color=PLOT_INK, fontsize=10)
    axes.set_ylabel(target, color=PLOT_INK, fontsize=10)
    _theme_neutral(axes)
    legend = axes.legend(fontsize=9, frameon=False)  # 9 pt at 100 dpi is 12.5 px
    for text in legend.get_texts():
        text.set_color(PLOT_INK)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", transparent=True)  # no white box in a dark theme
    return buffer.getvalue()


# Mid tones that read on white and on near-black alike: the PNG has no background of its own.
PLOT_INK, PLOT_CURVE, PLOT_TANGENT = "#8a8a8a", "#3d8fd1", "#e0783a"


def _theme_neutral(axes: Any) -> None:
    axes.set_facecolor("none")
    axes.tick_params(colors=PLOT_INK, labelsize=9)
    for spine in axes.spines.values():
        spine.set_color(PLOT_INK)

