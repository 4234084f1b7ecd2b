"""The options that need more than the one backward pass, each a pure function of the recorded run
that returns its own data and notes: --order differentiates again with ``engine.grad`` (no ``.grad``
is read or written; a user's backward also runs once more, on a copy, to check its result can be
differentiated again), --check and --plot re-evaluate the recorded graph with other input values
(``engine.Replay``: the cell's statements do not run again). --graph is drawn from the Recording."""
from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable

import numpy as np

from engine import Replay, Variable, functions_of, grad, is_engine_function, using_config

from .errors import CellError, type_name

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

    A derivative that cannot be computed is None, and a note says why: one from a user's backward whose
    result's graph does not follow its inputs (it read their .data) is not differentiated again.
    """
    if target.data.ndim:
        raise CellError(f"--order needs a scalar target; '{name}' has shape {target.data.shape}", category="option")
    derivatives, notes, stopped = {}, [], False
    for input_name, binding in inputs:
        if binding.variable.data.ndim:
            notes.append(f"--order skips '{input_name}': it is not a scalar")
            continue
        values, why = _derivatives(target, binding.variable, order, lambda k: progress(
            f"--order for '{input_name}'", k, order))
        derivatives[input_name] = values + [None] * (order - len(values))
        if why:
            notes.append(f"--order for '{input_name}' stops at order {len(values)}: {why}")
            stopped = True
    user_functions = sorted({type(f).__name__ for f in functions_of(target) if not is_engine_function(f)})
    if user_functions and not stopped:
        notes.append(f"--order through {', '.join(user_functions)}: each result of a backward of the notebook's "
                     "was checked to follow its inputs before it was differentiated again (its graph, re-evaluated "
                     f"with them moved by {ORDER_MOVE:g}·max(1, |input|), gives what the backward gives there)")
    return derivatives, notes


def _derivatives(y: Variable, x: Variable, order: int, reached: Callable[[int], None]) -> tuple:
    """The first ``order`` derivatives of y with respect to x, and why they stopped early ('' if not)."""
    values: list = []
    derivative = y
    for k in range(1, order + 1):
        watch = SecondOrderWatch(follow=k < order)  # the last derivative is not differentiated again
        try:
            derivative, = grad(derivative, x, create_graph=True, hook=watch)
        except Exception as error:  # a user's backward that works on arrays only
            return values, f"differentiating again failed: {type_name(error)}: {error}"
        values.append(float(derivative.data))
        reached(k)
        if watch.why:
            return values, watch.why
        if k < order and _larger_than(derivative, MAX_DERIVATIVE_FUNCTIONS):
            return values, (f"the graph of that derivative already has over {MAX_DERIVATIVE_FUNCTIONS:,} "
                            "functions, and it grows with each order")
    return values, ""


def _larger_than(y: Variable, limit: int) -> bool:
    return len(list(islice(functions_of(y), limit))) == limit


class SecondOrderWatch:
    """A grad hook that finds, while ``follow``, the first backward whose result cannot be differentiated
    again, and says why (in ``why``): a plain array, or a user's result that does not follow its inputs."""

    def __init__(self, follow: bool) -> None:
        self.follow = follow
        self.why = ""

    def __call__(self, func: Any, gys: tuple, gxs: tuple, accumulated: tuple) -> None:
        if self.why or not self.follow:
            return
        if any(gx is not None and not isinstance(gx, Variable) for gx in gxs):
            self.why = (f"{type(func).__name__}.backward returned a plain array, not a Variable, so its result "
                        "cannot be differentiated again")
        elif not is_engine_function(func):
            self.why = _unfollowed(func, gys, gxs)


ORDER_MOVE = 1e-3  # a user's backward runs again with its inputs and incoming gradients v moved by this·max(1, |v|)
ORDER_RTOL = 1e-12  # and its result's graph, re-evaluated there, must agree to this (it is the same arithmetic)


def _unfollowed(func: Any, gys: tuple, gxs: tuple) -> str:
    """'' if each result of func's backward, its graph re-evaluated with the inputs and incoming gradients
    moved, equals the backward run again on those; else why that result cannot be differentiated again."""
    name = type(func).__name__
    changes = {v: v.data + ORDER_MOVE * np.maximum(1.0, np.abs(v.data)) for v in func.inputs + gys}
    try:
        again = _run_again(func, gys, changes)
    except Exception as error:
        return (f"{name}.backward fails with its inputs moved by {ORDER_MOVE:g} ({type_name(error)}: {error}), "
                "so whether its result can be differentiated again cannot be checked")
    for gx, expected in zip(gxs, again):
        if gx is None:
            continue
        expected = expected.data if isinstance(expected, Variable) else np.asarray(expected, dtype=float)
        if not (np.all(np.isfinite(gx.data)) and np.all(np.isfinite(expected))):
            return (f"{name}.backward gives inf or nan here, so whether its result can be differentiated again "
                    "cannot be checked")
        if not np.allclose(_reevaluate(gx, changes), expected, rtol=ORDER_RTOL, atol=0.0):
            return (f"{name}.backward builds its result from its inputs' arrays (.data), not from the inputs as "
                    "Variables, so its result cannot be differentiated again")
    return ""


def _run_again(func: Any, gys: tuple, changes: dict) -> tuple:
    """func's backward run on a copy of func called with the changed inputs, given the changed gradients;
    the outputs' new arrays are added to ``changes``."""
    twin = copy.copy(func)  # its forward may store what its backward reads
    with using_config("enable_backprop", True), np.errstate(all="ignore"):
        made = twin(*[Variable(changes[x]) for x in func.inputs])
        again = twin.backward(*[Variable(changes[gy]) for gy in gys])
    made = made if type(made) is tuple else (made,)
    changes.update({ref(): y.data for ref, y in zip(func.outputs, made) if ref() is not None})
    return again if type(again) is tuple else (again,)


def _reevaluate(v: Variable, changes: dict) -> np.ndarray:
    """v's array with ``changes`` (Variable -> array) made below it: its recorded functions down to them run again."""
    functions, seen, stack = [], set(), [v]
    while stack:
        u = stack.pop()
        if u in changes or u.creator is None or id(u.creator) in seen:
            continue
        seen.add(id(u.creator))
        functions.append(u.creator)
        stack.extend(u.creator.inputs)
    data = dict(changes)
    with np.errstate(all="ignore"):
        for func in sorted(functions, key=lambda f: f.generation):
            ys = (func if is_engine_function(func) else copy.copy(func)).forward(
                *[data[x] if x in data else x.data for x in func.inputs])
            for ref, y in zip(func.outputs, ys if type(ys) is tuple else (ys,)):
                if ref() is not None:
                    data[ref()] = y
    return data[v] if v in data else v.data


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

