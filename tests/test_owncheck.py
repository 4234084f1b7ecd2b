"""owncheck.check_step as a mutation suite: correct backwards pass, ten common slips are caught with the right hint, kinks and jumps are '?', at any scale."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from adiff_magic import owncheck
from adiff_magic.fmt import fmt_short
from adiff_magic.owncheck import StepCheck, check_step

SHAPES = st.sampled_from([(), (3,), (2, 3)])


def check(name, forward, xs, gys, passed):
    """check_step as own.py calls it: float64 arrays, the learner's forward, what their backward passed."""
    arrays = lambda values: [np.asarray(v, dtype=np.float64) for v in values]
    return check_step(1, name, f"{name}.backward (line 3 of its cell)", forward, arrays(xs), arrays(gys), arrays(passed))


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo, hi):
    """Floats with lo <= |x| <= hi, either sign."""
    return st.one_of(floats(lo, hi), floats(-hi, -lo))


# incoming gradients: 1, negative, large, tiny, and anything in between (0 included)
GRADIENT = st.one_of(st.sampled_from([1.0, -1.0, 1e6, -1e6, 1e-6, -1e-6, 2.5]), floats(-100, 100))
NONZERO_GRADIENT = GRADIENT.filter(lambda g: abs(g) > 1e-9)


def array(data, shape, elements):
    return data.draw(hnp.arrays(np.float64, shape, elements=elements))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ================================================================ 1. correct backwards are never flagged
#
# name: (forward as a learner writes it, their backward (x, gy) -> gx derived by hand, x's elements)
UNARY = {
    "Square": (lambda x: x ** 2, lambda x, gy: 2 * x * gy, floats(-10, 10)),  # (x²)' = 2x
    "Exp": (np.exp, lambda x, gy: np.exp(x) * gy, floats(-10, 10)),  # (eˣ)' = eˣ
    "Sin": (np.sin, lambda x, gy: np.cos(x) * gy, floats(-10, 10)),  # sin' = cos
    "Cos": (np.cos, lambda x, gy: -np.sin(x) * gy, floats(-10, 10)),  # cos' = -sin
    "Tanh": (np.tanh, lambda x, gy: (1 - np.tanh(x) ** 2) * gy, floats(-10, 10)),  # tanh' = 1 - tanh²
    "Sigmoid": (sigmoid, lambda x, gy: sigmoid(x) * (1 - sigmoid(x)) * gy, floats(-10, 10)),  # σ' = σ(1 - σ)
    "Cube": (lambda x: x ** 3, lambda x, gy: 3 * x ** 2 * gy, floats(-10, 10)),  # (x³)' = 3x²
    "Log": (np.log, lambda x, gy: gy / x, floats(1e-3, 1e3)),  # log' = 1/x, x > 0
    "Reciprocal": (lambda x: 1 / x, lambda x, gy: -gy / x ** 2, away_from_zero(0.1, 10)),  # (1/x)' = -1/x²
    "Sqrt": (np.sqrt, lambda x, gy: gy / (2 * np.sqrt(x)), floats(1e-3, 1e3)),  # (√x)' = 1/(2√x), x > 0
}

# name: (forward, backward (a, b, gy) -> (ga, gb) derived by hand, b's elements)
BINARY = {
    "Add": (lambda a, b: a + b, lambda a, b, gy: (gy, gy), floats(-10, 10)),  # ∂(a+b) = (1, 1)
    "Mul": (lambda a, b: a * b, lambda a, b, gy: (gy * b, gy * a), floats(-10, 10)),  # ∂(ab) = (b, a)
    "Sub": (lambda a, b: a - b, lambda a, b, gy: (gy, -gy), floats(-10, 10)),  # ∂(a-b) = (1, -1)
    "Div": (lambda a, b: a / b, lambda a, b, gy: (gy / b, -gy * a / b ** 2), away_from_zero(0.1, 10)),  # (1/b, -a/b²)
}


def assert_right(result):
    assert result.verdict == "✓", (result.verdict, result.hint, result.reason, result.expected)
    assert result.hint == "" and result.sentence() == ""


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_a_correct_elementwise_backward_is_never_flagged(name, data):
    forward, backward, elements = UNARY[name]
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, elements), array(data, shape, GRADIENT)
    assert_right(check(name, forward, [x], [gy], [backward(x, gy)]))


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
def test_a_correct_two_input_backward_is_never_flagged(name, data):
    forward, backward, elements = BINARY[name]
    shape = data.draw(SHAPES)
    a, b, gy = array(data, shape, floats(-10, 10)), array(data, shape, elements), array(data, shape, GRADIENT)
    assert_right(check(name, forward, [a, b], [gy], list(backward(a, b, gy))))


@given(data=st.data(), c=st.sampled_from([2.0, 3.0, 0.5, -1.0, -2.5, 1.7]))
def test_a_correct_pow_by_a_constant_is_never_flagged(data, c):
    # (x^c)' = c·x^(c-1); x > 0 so that any c is defined
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, floats(0.1, 10)), array(data, shape, GRADIENT)
    assert_right(check("Pow", lambda x: x ** c, [x], [gy], [c * x ** (c - 1) * gy]))


@given(data=st.data())
def test_a_correct_two_output_backward_is_never_flagged(data):
    # (sin x, cos x) with incoming g1, g2: gx = g1·cos x - g2·sin x
    shape = data.draw(SHAPES)
    x = array(data, shape, floats(-10, 10))
    g1, g2 = array(data, shape, GRADIENT), array(data, shape, GRADIENT)
    assert_right(check("SinCos", lambda x: (np.sin(x), np.cos(x)), [x], [g1, g2], [g1 * np.cos(x) - g2 * np.sin(x)]))


# ================================================================ 2. ten slips, each caught with the right hint


def assert_wrong(result, hint=None, which=None):
    """'✗', with ``hint`` in the hint; its sentence names the class and the numbers of the first wrong input."""
    assert result.verdict == "✗", (result.verdict, result.reason, result.passed, result.expected)
    if hint is not None:
        assert hint in result.hint, result.hint
    sentence = result.sentence()
    assert sentence.startswith(result.where), sentence
    if which is not None:
        assert f"for input {which}" in sentence, sentence
    return sentence


def assert_numbers(sentence, passed, expected):
    """The sentence writes what was passed and incoming × local (to 6 digits)."""
    assert f"passed back {fmt_short(passed)}" in sentence and fmt_short(expected) in sentence, sentence


def test_the_books_seed_chain_sentence_for_a_forgotten_gy():
    # y = (exp(x²))² at x = 0.5: Exp sees a = 0.25 and gets gy = 2·exp(0.25) from the outer square
    a, gy = 0.25, 2 * math.exp(0.25)
    result = check("Exp", np.exp, [a], [gy], [math.exp(a)])
    assert result.sentence() == ("Exp.backward (line 3 of its cell) passed back 1.28403; incoming 2.56805 × "
                                 "local 1.28403 = 3.29744: did it forget to multiply by gy?")


@given(x=floats(-5, 5), gy=NONZERO_GRADIENT)
def test_1_a_forgotten_gy_is_caught_unless_gy_is_1(x, gy):
    # Exp.backward returning exp(x) where exp(x)·gy is due
    assume(abs(gy - 1) > 1e-3)
    sentence = assert_wrong(check("Exp", np.exp, [x], [gy], [np.exp(x)]), "forget to multiply by gy")
    assert_numbers(sentence, np.exp(x), np.exp(x) * gy)


@given(x=floats(-5, 5))
def test_1_a_forgotten_gy_is_right_when_gy_is_1(x):
    # at gy = 1, exp(x) and exp(x)·gy are the same number: nothing to catch
    assert_right(check("Exp", np.exp, [x], [1.0], [np.exp(x)]))


@given(data=st.data())
def test_2_x_times_gy_for_square_is_half(data):
    # (x²)' = 2x; x·gy is half of it
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, away_from_zero(0.1, 10)), array(data, shape, NONZERO_GRADIENT)
    assume(not np.any(np.isclose(gy, 2, rtol=1e-3)) and not np.any(np.isclose(x, 1, rtol=1e-3)))  # not forgot-gy, not gy back
    sentence = assert_wrong(check("Square", lambda x: x ** 2, [x], [gy], [x * gy]), "half")
    if shape == ():
        assert_numbers(sentence, x * gy, 2 * x * gy)
    else:
        assert "most at" in sentence


@given(x=floats(-5, 5), gy=NONZERO_GRADIENT)
def test_3_a_flipped_sign_is_caught(x, gy):
    # sin' = cos; -cos(x)·gy has the sign flipped (away from cos(x) = 0, where -0 is 0)
    assume(abs(math.cos(x)) > 1e-3 and abs(gy + 1) > 1e-3 and abs(math.cos(x) + 1) > 1e-3)
    sentence = assert_wrong(check("Sin", np.sin, [x], [gy], [-np.cos(x) * gy]), "sign is flipped")
    assert_numbers(sentence, -np.cos(x) * gy, np.cos(x) * gy)


@given(x=floats(-5, 5), gy=GRADIENT)
def test_4_exp_of_gy_for_exp_is_caught(x, gy):
    # exp(gy) where exp(x)·gy is due: equal only by coincidence
    assume(abs(gy) < 700 and not math.isclose(math.exp(gy), math.exp(x) * gy, rel_tol=1e-3))
    assert_wrong(check("Exp", np.exp, [x], [gy], [np.exp(gy)]))


@given(data=st.data())
def test_5_a_wrong_constant_is_named(data):
    # 3x·gy for square, where 2x·gy is due: 1.5 times
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, away_from_zero(0.1, 10)), array(data, shape, NONZERO_GRADIENT)
    assume(not np.any(np.isclose(gy, 3, rtol=1e-3)) and not np.any(np.isclose(3 * x, 1, rtol=1e-3)))
    assert_wrong(check("Square", lambda x: x ** 2, [x], [gy], [3 * x * gy]), "1.5 times the expected")


@given(x=floats(-5, 5), gy=NONZERO_GRADIENT)
def test_6_gy_passed_back_unchanged_is_caught(x, gy):
    # Exp.backward returning gy: the local derivative exp(x) is missing
    assume(abs(gy - 1) > 1e-3 and abs(x) > 1e-3)
    sentence = assert_wrong(check("Exp", np.exp, [x], [gy], [gy]), "unchanged")
    assert_numbers(sentence, gy, np.exp(x) * gy)


@given(data=st.data())
def test_7_zero_passed_back_is_caught(data):
    # Exp.backward returning 0 (np.zeros_like(x)): exp(x)·gy is never 0 for gy != 0
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, floats(-5, 5)), array(data, shape, NONZERO_GRADIENT)
    assert_wrong(check("Exp", np.exp, [x], [gy], [np.zeros(shape)]), "passed back 0")


@given(data=st.data())
def test_8_swapped_gradients_of_mul_are_caught_on_input_1(data):
    # ∂(ab)/∂a = b, ∂(ab)/∂b = a; the slip returns (gy·a, gy·b)
    shape = data.draw(SHAPES)
    a, b = array(data, shape, floats(-10, 10)), array(data, shape, floats(-10, 10))
    gy = array(data, shape, NONZERO_GRADIENT)
    assume(np.max(np.abs(gy * (a - b))) > 1e-3 * np.max(np.abs(gy)))
    result = check("Mul", lambda a, b: a * b, [a, b], [gy], [gy * a, gy * b])
    sentence = assert_wrong(result, which=1)
    assert sentence.startswith("Mul.backward")


@given(data=st.data())
def test_9_a_transposed_matmul_gradient_is_caught(data):
    # y = x @ W with W square: ∂/∂x = gy @ W.T, ∂/∂W = x.T @ gy; the slip passes gy @ W for x
    x, W = array(data, (2, 3), floats(-3, 3)), array(data, (3, 3), floats(-3, 3))
    gy = array(data, (2, 3), NONZERO_GRADIENT)
    assume(np.max(np.abs(gy @ (W - W.T))) > 1e-3 * np.max(np.abs(gy)) * (1 + np.max(np.abs(W))))
    result = check("MatMul", lambda x, W: x @ W, [x, W], [gy], [gy @ W, x.T @ gy])
    sentence = assert_wrong(result, which=1)
    assert "most at" in sentence
    assert check("MatMul", lambda x, W: x @ W, [x, W], [gy], [gy @ W.T, x.T @ gy]).verdict == "✓"


@given(data=st.data(), gy=NONZERO_GRADIENT)
def test_10_mean_without_dividing_by_n_is_caught(data, gy):
    # y = mean(x) = Σx / n: ∂y/∂x = 1/n each; the slip passes gy to each, unchanged
    shape = data.draw(st.sampled_from([(3,), (2, 3)]))
    x = array(data, shape, floats(-10, 10))
    assume(abs(gy - 1) > 1e-3 and abs(gy * x.size - 1) > 1e-3)  # at gy = 1/n it is also a forgotten gy
    result = check("Mean", np.mean, [x], [gy], [np.full(shape, gy)])
    assert_wrong(result, "unchanged")
    assert check("Mean", np.mean, [x], [gy], [np.full(shape, gy / x.size)]).verdict == "✓"


# ================================================================ 3. where central differences cannot tell


def relu(x):
    return np.maximum(x, 0.0)


def assert_cannot_tell(result, *words):
    assert result.verdict == "?", (result.verdict, result.hint, result.expected)
    assert result.reason and all(w in result.reason for w in words), result.reason
    assert result.sentence() == ""


@given(data=st.data(), s=floats(0, 1), gy=NONZERO_GRADIENT.filter(lambda g: abs(g) >= 1e-8) | st.just(1e-8))
def test_relu_at_exactly_zero_is_unknown_for_any_subgradient(data, s, gy):
    # relu'(0) is any s in [0, 1]; central differences see slopes 0 and 1 on either side
    shape = data.draw(SHAPES)
    x = array(data, shape, st.sampled_from([0.0, -2.0, 3.0]))
    assume(np.any(x == 0))
    passed = np.where(x > 0, gy, np.where(x == 0, s * gy, 0.0))
    assert_cannot_tell(check("ReLU", relu, [x], [np.full(shape, gy)], [passed]), "kink")


@given(s=floats(-1, 1), gy=NONZERO_GRADIENT)
def test_abs_at_exactly_zero_is_unknown_for_any_subgradient(s, gy):
    # |x|'(0) is any s in [-1, 1]
    assert_cannot_tell(check("Abs", np.abs, [0.0], [gy], [s * gy]), "kink")


@given(data=st.data())
def test_relu_and_abs_away_from_zero_are_checked(data):
    # relu' = 1 for x > 0, 0 for x < 0; |x|' = sign(x); a flipped sign is still caught
    shape = data.draw(SHAPES)
    x, gy = array(data, shape, away_from_zero(1e-6, 10)), array(data, shape, GRADIENT)
    assert_right(check("ReLU", relu, [x], [gy], [np.where(x > 0, gy, 0.0)]))
    assert_right(check("Abs", np.abs, [x], [gy], [np.sign(x) * gy]))
    # (a flipped sign for abs is, at gy = -1, a forgotten gy, and where x < 0 gy passed back unchanged)
    assume(np.all(gy != 0))
    assert_wrong(check("Abs", np.abs, [x], [gy], [-np.sign(x) * gy]))
    if np.any(x > 0):
        assert_wrong(check("ReLU", relu, [x], [gy], [np.where(x > 0, -gy, 0.0)]))


@given(x=away_from_zero(1e-6, 10), gy=NONZERO_GRADIENT)
def test_sign_away_from_zero_has_derivative_zero(x, gy):
    # np.sign is flat away from 0: passing 0 back is right, passing gy back is wrong
    assert_right(check("Sign", np.sign, [x], [gy], [0.0]))
    assert_wrong(check("Sign", np.sign, [x], [gy], [gy]))


@given(gy=NONZERO_GRADIENT, passed=st.sampled_from([0.0, 1.0, -3.0]))
def test_sign_at_zero_is_a_jump_whatever_was_passed(gy, passed):
    # at 0, sign jumps from -1 to 1: no number is its derivative, so no backward is right or wrong
    assert_cannot_tell(check("Sign", np.sign, [0.0], [gy], [passed * gy]), "jump")


def test_a_forward_giving_nan_on_one_side_is_unknown():
    # √x at 0: nan just left of 0 however small the step, and the slope is infinite anyway
    assert_cannot_tell(check("Sqrt", np.sqrt, [0.0], [1.0], [0.0]), "nan")
    # log 0 = -inf at the point itself
    assert_cannot_tell(check("Log", np.log, [0.0], [1.0], [np.inf]), "nan or inf")
    # nan past x = 1, however close
    edge = lambda x: np.where(x > 1, np.nan, x)
    assert_cannot_tell(check("Edge", edge, [1.0], [2.0], [2.0]), "nan")


def test_a_forward_failing_nearby_is_unknown():
    # math.sqrt raises ValueError left of 0
    forward = lambda x: np.asarray(math.sqrt(float(x)))
    assert_cannot_tell(check("Sqrt", forward, [0.0], [1.0], [0.0]), "fails", "ValueError")


@given(x=floats(1e-6, 1e-3), gy=NONZERO_GRADIENT)
def test_near_the_edge_of_a_domain_is_still_checked(x, gy):
    # log' = 1/x and (√x)' = 1/(2√x): the first step (1e-3) reaches past 0, smaller ones do not
    assert_right(check("Log", np.log, [x], [gy], [gy / x]))
    assert_right(check("Sqrt", np.sqrt, [x], [gy], [gy / (2 * np.sqrt(x))]))
    assume(abs(gy - 0.5) > 1e-3)  # at gy = 1/2, twice is also a forgotten gy
    assert_wrong(check("Log", np.log, [x], [gy], [2 * gy / x]), "twice")


# ================================================================ 4. large inputs: along one direction


@given(data=st.data(), n=st.sampled_from([owncheck.MAX_ELEMENTS + 1, 200]))
def test_a_large_input_is_checked_along_a_direction(data, n):
    # sin' = cos, n > MAX_ELEMENTS elements: one directional derivative, not n
    x, gy = array(data, (n,), floats(-5, 5)), array(data, (n,), NONZERO_GRADIENT)
    right = check("Sin", np.sin, [x], [gy], [np.cos(x) * gy])
    assert_right(right)
    assert right.expected == (None,) and right.along[0] is not None
    wrong = check("Sin", np.sin, [x], [gy], [-np.cos(x) * gy])
    # a slip is invisible along a direction where it cancels out: the measured component must be clearly non-zero
    assume(abs(right.along[0][1]) > 1e-6 * np.linalg.norm(np.cos(x) * gy))
    sentence = assert_wrong(wrong)
    assert "direction" in sentence


# ================================================================ 5. scale robustness

SCALED = {  # name: (forward, backward, flat at 1e6: the derivative is 0 there in float64)
    name: UNARY[name][:2] for name in ["Square", "Cube", "Sin", "Cos", "Log", "Sqrt", "Reciprocal", "Tanh", "Sigmoid"]
}
POSITIVE = {"Log", "Sqrt"}
FLAT_AT_LARGE = {"Tanh", "Sigmoid"}  # tanh(1e6) = 1, σ(1e6) = 1: their slopes underflow to 0


@pytest.mark.parametrize("scale", [1e6, 1e-6])
@pytest.mark.parametrize("name", list(SCALED))
@given(u=floats(1, 10), sign=st.sampled_from([1.0, -1.0]), g=floats(1, 10),
       gscale=st.sampled_from([1e8, 1e-8, 1.0]), gsign=st.sampled_from([1.0, -1.0]))
def test_any_scale_correct_is_right_and_a_factor_two_is_caught(name, scale, u, sign, g, gscale, gsign):
    forward, backward = SCALED[name]
    x = u * scale * (1.0 if name in POSITIVE else sign)
    gy = g * gscale * gsign
    with np.errstate(all="ignore"):
        right = backward(np.float64(x), gy)
    assert_right(check(name, forward, [x], [gy], [right]))
    if name in FLAT_AT_LARGE and scale > 1:  # twice 0 is 0: nothing to catch
        assert right == 0
        return
    assert_wrong(check(name, forward, [x], [gy], [2 * right]), "twice")


@pytest.mark.parametrize("scale", [1e6, 1e-6])
@given(data=st.data(), gscale=st.sampled_from([1e8, 1e-8]))
def test_any_scale_arrays(scale, data, gscale):
    # square over (2, 3): 2x·gy right, x·gy half
    x = array(data, (2, 3), away_from_zero(scale, 10 * scale))
    gy = array(data, (2, 3), away_from_zero(gscale, 10 * gscale))
    assert_right(check("Square", lambda x: x ** 2, [x], [gy], [2 * x * gy]))
    assert_wrong(check("Square", lambda x: x ** 2, [x], [gy], [x * gy]), "half")


# ================================================================ the public face


def test_step_check_fields():
    assert [f for f in StepCheck.__dataclass_fields__] == [
        "index", "function", "where", "verdict", "passed", "expected", "incoming", "along", "hint", "reason"]
