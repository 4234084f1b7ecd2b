"""Tests for engine.utils: central differences and gradient_check."""
import math
import re

import numpy as np
import pytest

from engine import Exp, Function, Square, Variable, sin, square
from engine.utils import GradientCheckError, analytic_grad, gradient_check, numerical_diff, numerical_grad


def test_numerical_diff_is_the_books_central_difference():
    # "Deep Learning from Scratch 3", step 4, prints 4.000000000004 for f(x) = x² at 2
    assert float(numerical_diff(Square(), Variable(2.0))) == 4.000000000004


def test_numerical_diff_of_the_seed_chain():
    def chain(x):
        return Square()(Exp()(Square()(x)))

    # the team's reference table (shared/ARCHITECTURE.md, outside this repository): central difference with eps = 1e-4 gives 3.2974426293330694
    assert math.isclose(float(numerical_diff(chain, Variable(0.5))), 3.2974426293330694, rel_tol=1e-12)


def test_numerical_grad_of_a_two_input_function_by_hand():
    x, y = np.array([1.0, 2.0]), np.array(3.0)
    gx, gy = numerical_grad(lambda a, b: a * a * b, x, y)
    np.testing.assert_allclose(gx, 2 * x * 3.0, rtol=1e-8)  # d/da Σ a²b = 2ab
    np.testing.assert_allclose(gy, 1.0 + 4.0, rtol=1e-8)  # d/db Σ a²b = Σ a²


def test_analytic_grad_matches_hand_derivation():
    (g,) = analytic_grad(lambda a: sin(a) * a, np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, [0.0, math.cos(1.0) + math.sin(1.0)], rtol=1e-12)


def test_gradient_check_passes_quietly_for_a_correct_function(capsys):
    gradient_check(lambda a: square(sin(a)), np.array([0.3, 0.7, 1.1]))
    assert capsys.readouterr() == ("", "")


class WrongAtOneElement(Function):
    """x² whose backward is wrong for the element at index 2."""

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        x = self.input.data
        gx = 2 * x * gy
        gx[2] += 1.0
        return gx


def test_gradient_check_names_the_worst_element(capsys):
    with pytest.raises(GradientCheckError) as error:
        gradient_check(WrongAtOneElement(), np.array([1.0, 2.0, 3.0, 4.0]))
    message = str(error.value)
    assert re.search(r"\binput 0\b", message) and "element [2]" in message
    number = r"(-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)"  # each read whole: '6.0' must not pass for 6.00003
    assert float(re.search(r"backprop gives " + number, message).group(1)) == 7.0, message
    central = float(re.search(r"central difference gives " + number, message).group(1))
    assert central == pytest.approx(6.0, abs=1e-6), message
    assert capsys.readouterr() == ("", "")


def test_gradient_check_reports_non_finite_gradients():
    class NanGrad(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            return gy * np.nan

    with pytest.raises(GradientCheckError, match="backprop gives nan"):
        gradient_check(NanGrad(), np.array(1.0))


def test_functions_of_walks_nearest_first_without_recursion():
    from engine import functions_of

    x = Variable(0.5)
    y = x
    for _ in range(5000):  # deeper than the default recursion limit allows for a recursive walk
        y = sin(y)
    found = list(functions_of(y))
    assert len(found) == 5000 and found[0] is y.creator and found[-1].inputs[0] is x


def test_leaves_of_and_clear_grads():
    from engine import clear_grads, leaves_of

    x, w = Variable(2.0), Variable(3.0)
    y = x * w + x
    assert {id(v) for v in leaves_of(y)} == {id(x), id(w)}
    assert leaves_of(x) == [x]
    y.backward(retain_grad=True)
    clear_grads(y)
    assert (x.grad, w.grad, y.grad) == (None, None, None)


# ---------------------------------------------------------------- Replay


def test_replay_evaluates_the_recorded_graph_at_other_leaf_values():
    from engine import Replay, exp, square
    x = Variable(0.5)
    y = square(exp(square(x)))
    replay = Replay(y)
    assert replay({}) == y.data
    assert replay({x: np.array(1.0)}) == pytest.approx(np.exp(2.0), rel=1e-15)  # (e^(1²))² by hand
    assert float(y.data) == pytest.approx(np.exp(0.5), rel=1e-15)  # the graph itself is unchanged


def test_replay_follows_the_recorded_branch():
    from engine import Replay
    x = Variable(0.5)
    y = x * 2 if x > 0 else -x
    assert Replay(y)({x: np.array(-3.0)}) == -6.0  # the x > 0 branch, recorded, whatever x is now


def test_replay_runs_a_user_function_on_a_copy():
    from engine import Function, Replay

    class Stash(Function):
        def forward(self, x):
            self.seen = x
            return x * 3

        def backward(self, gy):
            return gy * 3

    x = Variable(1.0)
    f = Stash()
    y = f(x)
    assert Replay(y)({x: np.array(5.0)}) == 15.0
    assert f.seen == 1.0


# ---------------------------------------------------------------- Replay.rebuild (issue 11)


def test_rebuild_gives_a_new_graph_at_new_values_that_differentiates():
    from engine import Replay, exp, square

    x = Variable(0.5)
    a = square(x)
    y = square(exp(a))
    y.backward()
    new = Replay(y).rebuild({x: np.array(1.0)})
    y1, x1 = new[y], new[x]
    assert y1 is not y and x1 is not x and float(x.data) == 0.5  # the recorded graph is untouched
    assert float(y1.data) == pytest.approx(math.exp(2.0), rel=1e-15)  # (e^(x²))² at x = 1
    y1.backward()
    assert float(x1.grad) == pytest.approx(4 * math.exp(2.0), rel=1e-15)  # 4x·e^(2x²) at x = 1
    assert float(x.grad) == pytest.approx(2 * math.exp(0.5), rel=1e-15)  # the old gradient is as it was


def test_rebuild_keeps_the_recorded_branch_and_a_users_function():
    from engine import Function, Replay

    class Cube(Function):
        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            return 3 * self.input.data ** 2 * gy  # the seed's way: reads its input

    x = Variable(-0.5)
    y = Cube()(x) if x < 0 else -x  # the branch taken at x = -0.5
    new = Replay(y).rebuild({x: np.array(2.0)})
    new[y].backward()
    assert float(new[y].data) == 8.0 and float(new[x].grad) == 12.0  # still x³ at x = 2: 3x² = 12
    assert float(y.data) == -0.125  # the recorded graph keeps its values
