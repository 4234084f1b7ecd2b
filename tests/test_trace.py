"""Tests for adiff_magic.trace: one BackwardStep per function backward, with substituted rules."""
import math

import numpy as np
import pytest

from adiff_magic.fmt import fmt_number
from adiff_magic.render import local_parts
from adiff_magic.trace import Label, Local, Tracer, local_derivative
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
    assert last.input == "x" and local_parts(last.local, 6) == ["2·x", "2·0.5", "1"] and not last.accumulated
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
    # in the cell's letters: ∂(a·a)/∂a = a = 4, for each operand
    assert [local_parts(f.local, 6) for f in mul.flows] == [["a", "4"], ["a", "4"]]


def test_constants_are_not_shown_as_inputs():
    x = Variable(3.0)
    y = 2 * x
    (step,) = traced(y, {id(x): "x", id(y): "y"})
    assert [f.input for f in step.flows] == ["x"]
    assert local_parts(step.flows[0].local, 6) == ["2"]  # ∂(2·x)/∂x = 2, the constant as its number


def test_arrays_show_no_substitution():
    x = Variable(np.array([1.0, 2.0]))
    y = square(x)
    (step,) = traced(y, {id(x): "x", id(y): "y"})
    assert step.flows[0].local is None
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
    local = local_derivative(y.creator, 0, np.array(2.0), np.array(6.0))
    assert local == Local("", {}, {}, 3.0) and local_parts(local, 6) == ["passed ÷ incoming", "3"]


def test_numbers_are_printed_exactly_without_trailing_zero():
    assert [fmt_number(v) for v in (1.0, 0.5, 3.297442541400256, -2.0, 1e-20)] == [
        "1", "0.5", "3.297442541400256", "-2", "1e-20"]


# ---------------------------------------------------------------- kept numbers, fields written when read (issue 9)


def traced_with_eager_locals(y: Variable, names: dict) -> tuple:
    """The tracer's steps, and the local derivatives local_derivative gives at the time of each step."""
    def label(v):
        return Label(names[id(v)], 1) if id(v) in names else None

    tracer = Tracer(label, lambda lineno: "line text")
    eager = []

    def hook(func, gys, gxs, accumulated):
        tracer(func, gys, gxs, accumulated)
        eager.append([local_derivative(func, i, gys[0], gx, label) for i, (x, gx) in enumerate(zip(func.inputs, gxs))
                      if gx is not None and id(x) in names])

    y.backward(retain_grad=True, hook=hook)
    return tracer.steps, eager


def test_locals_read_later_are_those_of_the_step():
    from engine import cos, log, sin, sqrt, tanh

    x, w = Variable(0.7), Variable(-1.3)
    a = x * w
    b = a / x - w
    c = b ** 3 + sin(a) * cos(x)
    d = tanh(c) + sqrt(x) - log(x * x)
    y = d * d + (d * d + 1) ** 2.5 + x ** w - (-d)
    names = {id(v): n for v, n in [(x, "x"), (w, "w"), (a, "a"), (b, "b"), (c, "c"), (d, "d"), (y, "y")]}
    steps, eager = traced_with_eager_locals(y, names)
    assert len(steps) > 15
    assert [[flow.local for flow in step.flows] for step in steps] == eager
    assert any(local for locals_ in eager for local in locals_)


def test_a_step_keeps_its_numbers_when_the_notebook_changes_the_variables():
    x = Variable(np.array(0.5))
    a = square(x)
    y = exp(a)
    steps = traced(y, {id(x): "x", id(a): "a", id(y): "y"})
    x.data[...] = 9.0  # the seed notebook's descent step: x.data -= lr * x.grad
    a.data = np.array(-1.0)
    x.grad = np.array(123.0)
    del a, y
    last = steps[1].flows[0]
    assert steps[1].function == "Square" and local_parts(last.local, 17) == ["2·x", "2·0.5", "1"]
    assert float(last.grad) == float(last.total) == math.exp(0.25)
    assert local_parts(steps[0].flows[0].local, 17) == ["e^a", "e^0.25", "1.2840254166877414"]


def test_fields_have_the_types_they_had():
    x = Variable(2.0)
    a = x ** 2
    y = a * a + Variable(np.array([1.0, 2.0])) * x
    steps = traced(y, {id(x): "x", id(a): "a", id(y): "y"})
    for step in steps:
        assert type(step.index) is int and isinstance(step.gy, tuple) and isinstance(step.flows, tuple)
        assert all(isinstance(g, np.ndarray) for g in step.gy)
        for flow in step.flows:
            assert isinstance(flow.grad, np.ndarray) and flow.grad.dtype == np.float64
            assert (flow.total is flow.grad) == (not flow.accumulated)  # a first gradient is its own total
    mul = next(s for s in steps if [f.input for f in s.flows] == ["a", "a"])
    assert [f.accumulated for f in mul.flows] == [False, True]
    assert float(mul.flows[1].total) == 16.0  # 2 · 2a, a = 4, summed over the two outputs


def test_steps_built_by_hand_and_by_the_tracer_read_the_same():
    from adiff_magic.trace import BackwardStep, Flow

    x = Variable(0.5)
    y = square(x)
    (step,) = traced(y, {id(x): "x", id(y): "y"})
    flow = step.flows[0]
    by_hand = BackwardStep(1, "Square", "y", 1, "line text", (np.array(1.0),), "d/dx x² = 2x",
                           (Flow("x", Local("2·{x}", {"x": "x", "y": "y"}, {"x": 0.5, "y": 0.25}, 1.0), np.array(1.0),
                                 False, np.array(1.0), 0),))
    assert isinstance(step, BackwardStep) and isinstance(flow, Flow)
    assert repr(step) == repr(by_hand)
    assert repr(flow) == repr(by_hand.flows[0])


def test_unread_steps_copy_and_pickle_with_their_numbers():
    import copy
    import pickle

    x = Variable(0.5)
    a = square(x)
    y = exp(a)
    names = {id(x): "x", id(a): "a", id(y): "y"}
    runs = []
    for _ in range(3):
        runs.append(traced(y, names))
        x.cleargrad(), a.cleargrad(), y.cleargrad()
    copied, pickled, read = copy.deepcopy(runs[0]), pickle.loads(pickle.dumps(runs[1])), runs[2]
    for steps in (copied, pickled):
        assert [repr(s) for s in steps] == [repr(s) for s in read]


def test_a_long_chain_is_traced_without_formatting_it():
    """A step is kept as numbers: 20,000 steps are recorded and only those read are written out."""
    from engine import sin

    x = Variable(0.5)
    y = x
    for _ in range(10_000):
        y = sin(y) + x
    steps = traced(y, {id(x): "x", id(y): "y"})
    assert len(steps) == 20_000 and [s.index for s in steps[:3]] == [1, 2, 3]
    add = steps[-2]
    assert add.function == "Add" and [f.input for f in add.flows] == ["x"] and add.flows[0].accumulated
    assert float(add.flows[0].total) == float(x.grad) - float(steps[-1].flows[0].grad)


def test_a_users_function_can_write_its_own_local_derivative():
    from engine import Function, Variable

    class Cube(Function):
        rule = "d/dx x³ = 3x²"
        local = (("3·{x}²", lambda x, y: 3 * x * x),)

        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            x, = self.inputs_like(gy)
            return 3 * x * x * gy

    x = Variable(2.0)
    y = Cube()(x)
    tracer = Tracer(lambda v: Label("y" if v is y else "x", 1), lambda n: "y = Cube()(x)")
    y.backward(hook=tracer)
    assert local_parts(tracer.steps[0].flows[0].local, 6) == ["3·x²", "3·2²", "12"]  # 3·2² by hand


def test_one_line_never_shows_two_roundings_of_one_number():
    # Mul's local derivative for a is b; a value one bit off b (as a rounded ratio can be) is not
    # written a second time after b's own digits
    b = 0.6784304773607402
    local = Local("{b}", {"a": "w", "b": None}, {"a": 1.5, "b": b, "y": 1.5 * b}, float(np.nextafter(b, 0)))
    assert local_parts(local, 17) == ["0.6784304773607402"]
    assert local_parts(local, 6) == ["0.67843"]


@pytest.mark.parametrize("cell, expected", [
    # issue 15: steps inside a def or lambda printed as '().creator = Sum' and 'input —'
    ("x = 0.5\ndef neuron(v):\n    return sin(v) * 2\ny = neuron(x)\n",
     [("y", ("sin(…) in neuron(x)",)), ("sin(…) in neuron(x)", ("x",))]),
    ("x = 0.5\nf = lambda t: exp(t * t)\ny = f(x) + f(2 * x)\n",
     [("y", ("f(x)", "f(2 * x)")), ("f(2 * x)", ("mul(…) in f(2 * x)",)), ("f(x)", ("mul(…) in f(x)",)),
      ("mul(…) in f(2 * x)", ("2 * x", "2 * x")), ("mul(…) in f(x)", ("x", "x")), ("2 * x", ("x",))]),
    # mean is one step (its 1/n is a rule, not an input), and .T is named by its text
    ("x = np.array([1.0, 2.0, 3.0])\nloss = mean(x * x)\n", [("loss", ("x * x",)), ("x * x", ("x", "x"))]),
    ("W = np.ones((2, 2))\nx = np.array([0.5, -1.0])\ny = sum(x @ W.T)\n",
     [("y", ("x @ W.T",)), ("x @ W.T", ("x", "W.T")), ("W.T", ("W",))]),
])
def test_every_step_is_named_in_the_cells_letters(grad, cell, expected):
    steps = grad(cell).steps
    assert [(step.output, tuple(flow.input for flow in step.flows)) for step in steps] == expected
