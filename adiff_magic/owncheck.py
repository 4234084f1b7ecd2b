"""Checks one step of a learner's own backward: what it passed back against incoming × the local
derivative measured on the learner's own forward, by central differences at the recorded inputs.

The numbers are the verdict ('✓', '✗', or '?' where central differences cannot tell: a kink, a jump,
nan); the hint is a guess at the slip (a forgotten ``* gy``, a factor, a sign)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .fmt import fmt_short

MAX_ELEMENTS = 64  # an input this large or smaller is checked element by element; a larger one along a direction
RTOL = 1e-5  # |passed - expected| <= RTOL * max(|passed|, |expected|) + the estimate's own error
STEP = 1e-5  # the central differences' step, relative to the input's size (at least 1)


@dataclass(frozen=True)
class StepCheck:
    """One step of the learner's backward, checked: ``verdict`` is '✓', '✗' or '?' (cannot tell)."""

    index: int  # the step's number in the trace
    function: str  # the learner's class, e.g. 'Exp'
    where: str  # where its backward is defined: 'Exp.backward (line 7 of its cell)'
    verdict: str
    passed: tuple  # per input: what their backward passed back (an array)
    expected: tuple  # per input: incoming × local, by central differences (None: cannot tell)
    incoming: tuple  # per output: the incoming gradient
    along: tuple  # per input larger than MAX_ELEMENTS: (passed, measured) along a fixed direction, or None
    hint: str = ""  # a guess at the slip, for a '✗'
    reason: str = ""  # for a '?': why central differences cannot tell

    def sentence(self, digits: int = 6) -> str:
        """'Exp.backward passed back 1.28403; incoming 2.56805 × local 1.28403 = 3.29744: did it forget to
        multiply by gy?' for a '✗'; '' otherwise."""
        if self.verdict != "✗":
            return ""
        wrong = next(i for i, (p, e, a) in enumerate(zip(self.passed, self.expected, self.along))
                     if e is not None and not _close(p, e) or a is not None and not _close(*a))
        passed, expected = self.passed[wrong], self.expected[wrong]
        which = f" for input {wrong + 1}" if len(self.passed) > 1 else ""
        if expected is None:
            component, measured = self.along[wrong]
            return (f"{self.where} passed back an array{which} whose component along a fixed direction is "
                    f"{fmt_short(component, digits)}, where central differences measure {fmt_short(measured, digits)}")
        gy = self.incoming[0] if len(self.incoming) == 1 else None
        if gy is not None and np.size(gy) == 1 and np.size(expected) == 1 and float(gy) != 0:
            local = float(expected) / float(gy)
            expectation = (f"incoming {fmt_short(float(gy), digits)} × local {fmt_short(local, digits)} = "
                           f"{fmt_short(float(expected), digits)}")
            said = f"{self.where} passed back {fmt_short(float(passed), digits)}{which}; {expectation}"
        elif np.size(expected) == 1:
            said = (f"{self.where} passed back {fmt_short(float(passed), digits)}{which}; incoming × local = "
                    f"{fmt_short(float(expected), digits)}")
        else:
            at = np.unravel_index(int(np.argmax(np.abs(passed - expected))), np.shape(expected))
            said = (f"{self.where} passed back an array{which} that differs from incoming × local most at "
                    f"{list(map(int, at))}: {fmt_short(float(passed[at]), digits)} where "
                    f"{fmt_short(float(expected[at]), digits)} is expected")
        return f"{said}: {self.hint}" if self.hint else said


def check_step(index: int, function: str, where: str, forward: Callable[..., Any], xs: list, gys: list,
               passed: list, rule: str = "") -> StepCheck:
    """The StepCheck of one step: ``forward(*xs)`` is the learner's (called on copies of its function),
    ``gys`` the incoming gradient per output, ``passed`` what their backward gave per input (arrays of
    the inputs' shapes). ``rule`` is this engine's local derivative of a function of the same name."""
    expected, along, reasons = [], [], []
    for i, x in enumerate(xs):
        if x.size <= MAX_ELEMENTS:
            value, reason = _expected(forward, xs, gys, i)
            expected.append(value)
            along.append(None)
        else:  # along one fixed direction v: <passed, v> against the measured derivative along v
            direction = np.random.default_rng(0).standard_normal(x.shape)
            direction /= np.linalg.norm(direction)
            measured, reason = _derivative(forward, xs, gys, i, direction, max(1.0, float(np.max(np.abs(x)))))
            expected.append(None)
            along.append(None if measured is None else (float(np.sum(passed[i] * direction)), measured))
        reasons.append(reason)
    wrong = [i for i in range(len(xs)) if expected[i] is not None and not _close(passed[i], expected[i])
             or along[i] is not None and not _close(*along[i])]
    if wrong:
        verdict = "✗"
    elif any(e is None and a is None for e, a in zip(expected, along)):
        verdict = "?"
    else:
        verdict = "✓"
    hint = ""
    if wrong and expected[wrong[0]] is not None:
        hint = _hint(passed[wrong[0]], expected[wrong[0]], gys, function, rule)
    reason = next((r for r in reasons if r), "")
    return StepCheck(index, function, where, verdict, tuple(passed), tuple(expected), tuple(gys), tuple(along),
                     hint, reason)


def _close(passed: Any, expected: Any) -> bool:
    passed, expected = np.asarray(passed, float), np.asarray(expected, float)
    if passed.shape != expected.shape or not np.all(np.isfinite(passed)):
        return False
    scale = np.maximum(np.abs(passed), np.abs(expected))
    return bool(np.all(np.abs(passed - expected) <= RTOL * scale + _ABS))


_ABS = 1e-8  # below this, a central difference cannot tell a number from 0


def _expected(forward: Callable[..., Any], xs: list, gys: list, i: int) -> tuple:
    """(incoming × local for input i by central differences, element by element, or None where they
    cannot tell; the reason)."""
    x = xs[i]
    expected = np.empty(x.shape)
    for j in np.ndindex(x.shape):
        direction = np.zeros(x.shape)
        direction[j] = 1.0
        value, reason = _derivative(forward, xs, gys, i, direction, max(1.0, abs(float(x[j]))))
        if value is None:
            return None, reason
        expected[j] = value
    return expected, ""


def _derivative(forward: Callable[..., Any], xs: list, gys: list, i: int, direction: np.ndarray,
                size: float) -> tuple:
    """(d/dε Σ gy·f(x_i + ε·direction) at 0, or None; why not): central differences at h and h/2,
    with one-sided differences to tell a kink or a jump (their gap does not shrink with h)."""
    h = STEP * size

    def phi(eps: float) -> float:
        moved = list(xs)
        moved[i] = xs[i] + eps * direction
        ys = forward(*moved)
        ys = ys if isinstance(ys, (tuple, list)) else (ys,)
        return float(sum(np.sum(np.asarray(g) * np.asarray(getattr(y, "data", y), float)) for g, y in zip(gys, ys)))

    try:
        with np.errstate(all="ignore"):
            at = {eps: phi(eps) for eps in (0.0, h, -h, h / 2, -h / 2)}
    except Exception as error:  # their forward fails at a nearby point
        return None, f"its forward fails near the recorded input ({type(error).__name__})"
    if not all(np.isfinite(v) for v in at.values()):
        return None, "its forward gives nan or inf near the recorded input"
    gap = abs((at[h] - at[0.0]) - (at[0.0] - at[-h])) / h
    half_gap = abs((at[h / 2] - at[0.0]) - (at[0.0] - at[-h / 2])) / (h / 2)
    coarse, fine = (at[h] - at[-h]) / (2 * h), (at[h / 2] - at[-h / 2]) / h
    if half_gap > 0.75 * gap and half_gap > 1e-6 * (1 + abs(fine)):
        return None, "a kink or a jump at the recorded input: the slopes on either side differ"
    return fine + (fine - coarse) / 3, ""  # Richardson's step: the error of order h² cancels


def _hint(passed: Any, expected: Any, gys: list, function: str, rule: str) -> str:
    """A guess at the slip that turns ``expected`` into ``passed``."""
    passed, expected = np.asarray(passed, float), np.asarray(expected, float)
    suffix = f" ({function}'s local derivative is {rule})" if rule else ""
    if passed.shape != expected.shape:
        return f"it has shape {passed.shape}, its input {expected.shape}"
    gy = np.asarray(gys[0], float) if len(gys) == 1 else None
    if gy is not None and gy.shape == expected.shape or gy is not None and gy.size == 1:
        if not _close(gy, 1.0) and np.all(gy != 0):
            if _close(passed, expected / gy):
                return "did it forget to multiply by gy?"
            if _close(passed, gy):
                return f"it passed the incoming gradient back unchanged: is the local derivative missing?{suffix}"
    if not np.any(expected):
        return ""
    ratio = _constant_ratio(passed, expected)
    if ratio is None:
        return ""
    if _close(ratio, -1.0):
        return f"the sign is flipped{suffix}"
    if _close(ratio, 0.5):
        return f"half the expected: a factor 2 missing?{suffix}"
    if _close(ratio, 2.0):
        return f"twice the expected: a factor 2 too many?{suffix}"
    if _close(ratio, 0.0):
        return f"it passed back 0{suffix}"
    return f"{fmt_short(ratio, 4)} times the expected: a wrong constant factor?{suffix}"


def _constant_ratio(passed: np.ndarray, expected: np.ndarray) -> Optional[float]:
    """passed / expected when it is one number wherever expected is not 0, else None."""
    where = np.abs(expected) > _ABS
    if not np.any(where):
        return None
    ratios = passed[where] / expected[where]
    first = float(ratios.flat[0])
    return first if _close(ratios, np.full(ratios.shape, first)) and _close(passed[~where], 0 * passed[~where]) else None

