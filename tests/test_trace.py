"""Tests for adiff_magic.trace: one BackwardStep per function backward, with substituted rules."""
import math

import numpy as np

from adiff_magic.trace import Label, Tracer, fmt_number, local_derivative
from engine import Variable, exp, square


def traced(y: Variable, names: dict) -> list:
    tracer = Tracer(lambda v: Label(names[id(v)], 1) if id(v) in names else None, lambda lineno: "line text")
    y.backward(retain_grad=True, hook=tracer)
    return tracer.steps


def test_seed_chain_steps_in_engine_order_with_hand_numbers():
    x = Variable(0.5)
    a = square(x)
    b = exp(a)
    y = square(b)
    steps = traced(y, {id(x): "x", id(a): "a", id(b): "b", id(y): "y"})
    assert [(s.index, s.function, s.output) for s in steps] == [(1, "Square", "y"), (2, "Exp", "b"), (3, "Square", "a")]
    assert float(steps[0].gy[0]) == 1.0
    assert math.isclose(float(steps[1].gy[0]), 2 * math.exp(0.25), rel_tol=1e-15)  # dy/db = 2b
    assert math.isclose(float(steps[2].gy[0]), 2 * math.exp(0.5), rel_tol=1e-15)  # dy/da = 2b·e^a
    last = steps[2].flows[0]
    assert last.input == "x" and last.local == "2·0.5 = 1" and not last.accumulated
    assert math.isclose(float(last.grad), 2 * math.exp(0.5), rel_tol=1e-15)
    assert steps[0].rule == "d/dx x² = 2x" and steps[0].source == "line text"


def test_second_path_is_marked_accumulated_with_the_running_total():
    x = Variable(2.0)
    a = x ** 2
    y = a * a
    steps = traced(y, {id(x): "x", id(a): "a", id(y): "y"})
    mul = steps[0]
    assert [f.accumulated for f in mul.flows] == [False, True]
    assert [float(f.total) for f in mul.flows] == [4.0, 8.0]  # d(a²)/da = 2a = 8
    assert float(a.grad) == 8.0
    assert mul.flows[0].local == "b = 4" and mul.flows[1].local == "a = 4"


def test_constants_are_not_shown_as_inputs():
    x = Variable(3.0)
    y = 2 * x
    (step,) = traced(y, {id(x): "x", id(y): "y"})
    assert [f.input for f in step.flows] == ["x"]
    assert step.flows[0].local == "a = 2"


def test_arrays_show_no_substitution():
    x = Variable(np.array([1.0, 2.0]))
    y = square(x)
    (step,) = traced(y, {id(x): "x", id(y): "y"})
    assert step.flows[0].local == ""
    np.testing.assert_array_equal(step.flows[0].grad, [2.0, 4.0])


def test_user_function_local_is_the_ratio_of_gradients():
    from engine import Function

    class Triple(Function):
        def forward(self, x):
            return 3 * x

        def backward(self, gy):
            return 3 * gy

    x = Variable(1.0)
    y = Triple()(x)
    y.grad = np.array(2.0)
    y.backward(retain_grad=True, hook=lambda f, gys, gxs, acc: None)
    assert local_derivative(y.creator, 0, np.array(2.0), np.array(6.0)) == "3"


def test_numbers_are_printed_exactly_without_trailing_zero():
    assert [fmt_number(v) for v in (1.0, 0.5, 3.297442541400256, -2.0, 1e-20)] == [
        "1", "0.5", "3.297442541400256", "-2", "1e-20"]
