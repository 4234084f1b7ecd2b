"""oracle.hessian (tests/oracle.py): the exact Hessian of a %%grad cell's scalar target over its scalar inputs.

Every expected matrix here is derived by hand (the derivation beside it) and evaluated with numpy, or
computed by sympy from an expression written directly in this file; none comes from the oracle itself.
"""
import math

import numpy as np
import pytest
import sympy

import oracle

RTOL = 1e-14  # the oracle differentiates exactly (sympy, 30 digits) and rounds once to float64


def check(source, names, expected, counts=(), target=None):
    got_names, got = oracle.hessian(source, counts, target)
    assert got_names == tuple(names)
    assert got.shape == (len(names), len(names)) and got.dtype == np.float64
    np.testing.assert_allclose(got, np.array(expected, dtype=float), rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(got, got.T, rtol=1e-15, atol=0)  # each entry computed on its own: symmetry is a check
    return got


def test_two_inputs_with_a_mixed_partial():
    # y = x²w + sin w: y_xx = 2w, y_xw = 2x, y_ww = −sin w
    x, w = 0.5, 2.0
    check("x = 0.5\nw = 2.0\ny = x * x * w + sin(w)", ["x", "w"], [[2 * w, 2 * x], [2 * x, -math.sin(w)]])


GOLDSTEIN_PRICE = """x = 0.0
w = -1.0
a = 1 + (x + w + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * w + 6 * x * w + 3 * w ** 2)
b = 30 + (2 * x - 3 * w) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * w - 36 * x * w + 27 * w ** 2)
y = a * b"""


def test_goldstein_price_at_its_minimum_by_hand():
    # f = a·b at (0, −1). a = 1 + u²A with u = x + w + 1 = 0 and A = 36 there: a = 1, ∇a = 0,
    # H_a = 2A ∇u∇uᵀ = 72 [[1, 1], [1, 1]]. b = 30 + v²B with v = 2x − 3w = 3, B = −3, ∇v = (2, −3),
    # ∇B = (4, −6), H_B = [[24, −36], [−36, 54]]: b = 3, ∇b = 2vB∇v + v²∇B = 0,
    # H_b = 2B∇v∇vᵀ + 2v(∇v∇Bᵀ + ∇B∇vᵀ) + v²H_B = [[288, −432], [−432, 648]].
    # H_f = b·H_a + a·H_b (both gradients vanish) = [[504, −216], [−216, 864]].
    check(GOLDSTEIN_PRICE, ["x", "w"], [[504.0, -216.0], [-216.0, 864.0]])


def test_goldstein_price_elsewhere_is_sympys_hessian_of_the_formula():
    X, W = sympy.symbols("x w")
    f = ((1 + (X + W + 1) ** 2 * (19 - 14 * X + 3 * X ** 2 - 14 * W + 6 * X * W + 3 * W ** 2))
         * (30 + (2 * X - 3 * W) ** 2 * (18 - 32 * X + 12 * X ** 2 + 48 * W - 36 * X * W + 27 * W ** 2)))
    point = {X: sympy.Rational(1, 2), W: sympy.Rational(1, 4)}
    expected = np.array(sympy.hessian(f, (X, W)).subs(point), dtype=float)
    source = GOLDSTEIN_PRICE.replace("x = 0.0", "x = 0.5").replace("w = -1.0", "w = 0.25")
    check(source, ["x", "w"], expected)


def test_logistic_regression_loss_over_weight_bias_input_and_label():
    # loss = −(t log p + (1 − t) log(1 − p)), p = σ(z), z = wx + b. ∂loss/∂z = p − t, ∂²loss/∂z² = p(1 − p),
    # so over (w, b, x): H = p(1 − p) ∇z∇zᵀ + (p − t) ∇²z with ∇z = (x, 1, w) and ∇²z = 1 at (w, x) only.
    # t: ∂loss/∂t = −(log p − log(1 − p)) = −z, so ∂²/∂t∂(w, b, x) = −∇z and ∂²/∂t² = 0.
    w, b, x, t = 0.8, -0.3, 1.7, 0.3
    z = w * x + b
    p = 1 / (1 + math.exp(-z))
    grad_z = np.array([x, 1.0, w])
    expected = np.zeros((4, 4))
    expected[:3, :3] = p * (1 - p) * np.outer(grad_z, grad_z)
    expected[0, 2] += p - t
    expected[2, 0] += p - t
    expected[3, :3] = expected[:3, 3] = -grad_z
    source = ("w = 0.8\nb = -0.3\nx = 1.7\nt = 0.3\nz = w * x + b\np = sigmoid(z)\n"
              "loss = -(t * log(p) + (1 - t) * log(1 - p))")
    check(source, ["w", "b", "x", "t"], expected)


def test_a_rebound_input_is_two_rows_named_as_the_magic_names_them():
    # y = x₁² · x₂ with x₁ = 0.5 (row x#1) and x₂ = 2 (row x): [[2x₂, 2x₁], [2x₁, 0]]
    check("x = 0.5\ny = x * x\nx = 2.0\ny = y * x", ["x#1", "x"], [[4.0, 1.0], [1.0, 0.0]])


def test_only_scalar_inputs_are_rows():
    # n is a count, v an array input, a and y computed: the one row is x. y = 9 sin²x + x(v₁ + v₂),
    # y_xx = 18 cos 2x
    source = "n = 3\nx = 0.5\nv = np.array([1.0, 2.0])\na = sin(x) * n\ny = a * a + sum(v * x)"
    check(source, ["x"], [[18 * math.cos(1.0)]], counts=("n",))


def test_a_number_computed_from_plain_numbers_is_an_input_row():
    # c = e is a fresh input, as for the magic: y = c x², H over (c, x) = [[0, 2x], [2x, 2c]]
    check("c = exp(1.0)\nx = 0.5\ny = c * x * x", ["c", "x"], [[0.0, 1.0], [1.0, 2 * math.e]])


def test_an_augmented_binding_is_not_an_input():
    # x += 1 rebinds x to x₁ + 1, computed: y = (x₁ + 1)², y'' = 2
    check("x = 0.5\nx += 1\ny = x * x", ["x#1"], [[2.0]])


def test_loops_and_branches_follow_the_values():
    # y = x·w³ (three passes), then 0.5·8 = 4 > 1 adds x²: H = [[2, 3w²], [3w², 6xw]] at (0.5, 2)
    source = "x = 0.5\nw = 2.0\ny = x\nfor i in range(3):\n    y = y * w\nif y > 1:\n    y = y + x * x"
    check(source, ["x", "w"], [[2.0, 12.0], [12.0, 6.0]])


def test_another_target():
    # a = x·w: H = [[0, 1], [1, 0]]; y after it does not matter
    check("x = 0.5\nw = 2.0\na = x * w\ny = sin(a) * x", ["x", "w"], [[0.0, 1.0], [1.0, 0.0]], target="a")


def test_three_inputs_of_sin_exp_tanh():
    # y = sin(xw)·e^z + tanh(z): y_xx = −w² s e^z, y_ww = −x² s e^z, y_xw = (cos(xw) − xw s) e^z (s = sin xw),
    # y_xz = w cos(xw) e^z, y_wz = x cos(xw) e^z, y_zz = s e^z − 2 tanh z (1 − tanh² z)
    x, w, z = 0.3, -0.7, 1.2
    s, c, e, th = math.sin(x * w), math.cos(x * w), math.exp(z), math.tanh(z)
    expected = [[-w * w * s * e, (c - x * w * s) * e, w * c * e],
                [(c - x * w * s) * e, -x * x * s * e, x * c * e],
                [w * c * e, x * c * e, s * e - 2 * th * (1 - th * th)]]
    check("x = 0.3\nw = -0.7\nz = 1.2\ny = sin(x * w) * exp(z) + tanh(z)", ["x", "w", "z"], expected)


def test_its_diagonal_is_analyzes_second_derivatives():
    names, matrix = oracle.hessian(GOLDSTEIN_PRICE)
    derivatives = oracle.analyze(GOLDSTEIN_PRICE).derivatives
    assert [derivatives[name][1] for name in names] == list(np.diag(matrix))


def test_the_result_is_a_copy():
    _, matrix = oracle.hessian("x = 0.5\nw = 2.0\ny = x * x * w")
    matrix[0, 0] = 99.0
    assert oracle.hessian("x = 0.5\nw = 2.0\ny = x * x * w")[1][0, 0] == 4.0


def test_an_array_target_is_refused():
    with pytest.raises(oracle.OracleError, match="scalar target"):
        oracle.hessian("x = 0.5\nv = np.array([1.0, 2.0])\ny = v * x")
