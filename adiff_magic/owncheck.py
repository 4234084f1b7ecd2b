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
STEP = 1e-3  # the central differences' first step, times √size (size: the input's |x|, at least 1)
SHRINK = 6  # the step shrinks tenfold at most this many times till two in a row agree, not below 1e-10 × size
ULPS = 8  # the learner's forward is taken to round each output to within this many units in the last place


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
            value, error, reason = _expected(forward, xs, gys, i)
            expected.append(None if value is None else _agreed(passed[i], value, error))
            along.append(None)
        else:  # along one fixed direction v: <passed, v> against the measured derivative along v
            direction = np.random.default_rng(0).standard_normal(x.shape)
            direction /= np.linalg.norm(direction)
            measured, error, reason = _derivative(forward, xs, gys, i, direction, max(1.0, float(np.max(np.abs(x)))))
            component = float(np.sum(passed[i] * direction))
            expected.append(None)
            along.append(None if measured is None else (component, float(_agreed(component, measured, error))))
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
    return bool(np.all(np.abs(passed - expected) <= RTOL * np.maximum(np.abs(passed), np.abs(expected))))


def _agreed(passed: Any, measured: Any, error: Any) -> Any:
    """``measured``, except where ``passed`` agrees with it (to RTOL, plus the measurement's own
    ``error``): there ``passed`` itself, which central differences cannot tell from the measured
    value (so _close need not know the error)."""
    passed = np.asarray(passed, float)
    if passed.shape != np.shape(measured):
        return measured
    with np.errstate(invalid="ignore"):
        agree = np.abs(passed - measured) <= RTOL * np.maximum(np.abs(passed), np.abs(measured)) + error
    return np.where(agree, passed, measured)


def _expected(forward: Callable[..., Any], xs: list, gys: list, i: int) -> tuple:
    """(incoming × local for input i by central differences, element by element, and its error; or
    None where they cannot tell, and the reason)."""
    x = xs[i]
    expected, errors = np.empty(x.shape), np.empty(x.shape)
    for j in np.ndindex(x.shape):
        direction = np.zeros(x.shape)
        direction[j] = 1.0
        value, error, reason = _derivative(forward, xs, gys, i, direction, max(1.0, abs(float(x[j]))))
        if value is None:
            return None, None, reason
        expected[j], errors[j] = value, error
    return expected, errors, ""


def _derivative(forward: Callable[..., Any], xs: list, gys: list, i: int, direction: np.ndarray,
                size: float) -> tuple:
    """(d/dε Σ gy·f(x_i + ε·direction) at 0, its error, ''), or (None, 0, why not): the first two steps
    in a row (STEP × √size, then tenfold smaller each time) whose estimates are clean and agree. A step
    too large for the function (a singularity or the edge of its domain nearby) fails that, and a
    smaller one is tried; √size keeps the first step short of a period of sin or cos (a step that
    spans whole periods sees none of them) where rounding x + h still costs little (1e-12 × √size)."""
    reason, last = "", None
    for k in range(SHRINK + 1):
        h = STEP * np.sqrt(size) / 10 ** k
        if h < 1e-10 * size:  # x + h/4 would round h by more than 1e-6 of itself
            break
        value, noise, why = _at_step(forward, xs, gys, i, direction, h)
        reason = why or reason
        if value is not None and last is not None and abs(value - last[0]) <= 1e-6 * abs(value) + 3 * (noise + last[1]):
            return last[0], abs(value - last[0]) + 2 * noise, ""
        last = None if value is None else (value, noise)
    return None, 0.0, reason or "central differences at steps a decade apart disagree"


def _at_step(forward: Callable[..., Any], xs: list, gys: list, i: int, direction: np.ndarray, h: float) -> tuple:
    """(the derivative along direction at step h, its rounding error, ''), or (None, 0, why not).

    Central differences at h, h/2 and h/4 give two Richardson estimates (the error of order h² cancels);
    they must agree to within their rounding, and the one-sided slopes must close up as h halves (else
    a kink or a jump)."""
    steps = (0.0, h, -h, h / 2, -h / 2, h / 4, -h / 4)
    try:
        with np.errstate(all="ignore"):
            w = np.stack([_weighted(forward, xs, gys, i, step * direction) for step in steps])
    except Exception as error:  # their forward fails at a nearby point
        return None, 0.0, f"its forward fails near the recorded input ({type(error).__name__})"
    if not np.all(np.isfinite(w)):
        return None, 0.0, "its forward gives nan or inf near the recorded input"

    def change(a: int, b: int) -> float:
        return float(np.sum(w[a] - w[b]))  # output by output: those that do not move cancel exactly

    central = [change(1, 2) / (2 * h), change(3, 4) / h, change(5, 6) / (h / 2)]  # at h, h/2, h/4
    # the rounding in each Σ gy·f: of the outputs (ULPS units each, or a subnormal's), and of x + step
    eps = np.finfo(float).eps
    rounding = (ULPS * np.sum(eps * np.max(np.abs(w), axis=0) + eps * np.finfo(float).tiny)
                + eps * (np.max(np.abs(xs[i])) + h) * abs(central[2]))
    noise = 4 * rounding / h  # in a central difference at h/4
    bend = [abs(change(a, 0) - change(0, b)) / s for a, b, s in ((1, 2, h), (3, 4, h / 2), (5, 6, h / 4))]
    coarse, fine = (4 * central[1] - central[0]) / 3, (4 * central[2] - central[1]) / 3
    if bend[2] > 0.75 * bend[1] and bend[1] > 0.75 * bend[0] and bend[2] > 8 * noise + 1e-6 * abs(fine):
        return None, 0.0, "a kink or a jump at the recorded input: the slopes on either side differ"
    if abs(fine - coarse) > 1e-6 * abs(fine) + 3 * noise:
        return None, 0.0, ("a jump or a singularity at the recorded input: central differences do not settle "
                           "as the step shrinks")
    return fine, noise, ""


def _weighted(forward: Callable[..., Any], xs: list, gys: list, i: int, move: np.ndarray) -> np.ndarray:
    """gy·f(x_i + move), output by output and element by element, in one flat array."""
    moved = list(xs)
    moved[i] = xs[i] + move
    ys = forward(*moved)
    ys = ys if isinstance(ys, (tuple, list)) else (ys,)
    return np.concatenate([np.ravel(np.asarray(g) * np.asarray(getattr(y, "data", y), float)) for g, y in zip(gys, ys)])


def _hint(passed: Any, expected: Any, gys: list, function: str, rule: str) -> str:
    """A guess at the slip that turns ``expected`` into ``passed``."""
    passed, expected = np.asarray(passed, float), np.asarray(expected, float)
    suffix = f" ({function}'s local derivative is {rule})" if rule else ""
    if passed.shape != expected.shape:
        return f"it has shape {passed.shape}, its input {expected.shape}"
    gy = np.asarray(gys[0], float) if len(gys) == 1 else None
    if gy is not None and gy.shape == expected.shape or gy is not None and gy.size == 1:
        gy = np.broadcast_to(gy, expected.shape)  # a scalar's gy, passed to each element (mean, sum)
        if not _close(gy, np.ones(gy.shape)) and np.all(gy != 0):
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
    if ratio == 0:
        return f"it passed back 0{suffix}"
    return f"{fmt_short(ratio, 4)} times the expected: a wrong constant factor?{suffix}"


def _constant_ratio(passed: np.ndarray, expected: np.ndarray) -> Optional[float]:
    """passed / expected when it is one number (taken where expected is largest), else None."""
    largest = int(np.argmax(np.abs(expected)))
    with np.errstate(all="ignore"):
        ratio = float(passed.flat[largest] / expected.flat[largest])
        scale = RTOL * np.max(np.abs(passed))  # elements whose expected is near 0 are judged on passed's scale
        constant = np.all(np.abs(passed - ratio * expected) <= RTOL * np.abs(passed) + scale)
    return ratio if constant and np.isfinite(ratio) else None
