"""Tests for engine.core: the seed notebook's cells, Variable, Function, backward and operators.

Expected numbers come from the seed notebook's printed output, hand derivation or
the team's reference table (shared/ARCHITECTURE.md, outside this repository); none is produced by the code under test.
"""
import contextlib
import gc
import io
import math
import re
import sys
import weakref

import numpy as np
import pytest

import engine
from engine import Config, Function, Variable, exp, no_grad, sin, square, using_config
from reference import (SEED_CELL_5, SEED_CELL_6, SEED_CELL_10, SEED_CELL_11, SEED_CELL_12, SEED_CELL_13, SEED_CELL_15,
                       SEED_GRAD, SEED_IMPORT)


def run_cells(*cells: str) -> list:
    """Run notebook cells in one namespace; return what each printed."""
    namespace: dict = {}
    printed = []
    for cell in (SEED_IMPORT,) + cells:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(cell, "<cell>", "exec"), namespace)
        printed.append(out.getvalue())
    return printed[1:]


def close(a, b, rel=1e-12):
    return math.isclose(float(a), float(b), rel_tol=rel)


# ================================================================ the seed notebook


def test_seed_manual_backward_prints_the_seeds_number():
    assert run_cells(SEED_CELL_5, SEED_CELL_6) == ["", SEED_GRAD + "\n"]


def test_seed_creator_links_and_step_by_step_backward():
    printed = run_cells(SEED_CELL_10, SEED_CELL_11, SEED_CELL_12, SEED_CELL_13)
    assert printed == ["", "", "", SEED_GRAD + "\n"]


def test_seed_automatic_backward_prints_the_seeds_number():
    assert run_cells(SEED_CELL_15) == [SEED_GRAD + "\n"]


def test_user_function_written_the_seeds_way_works_beside_builtins():
    class MySquare(Function):  # the seed's In [3], as a user would write it
        def forward(self, x):
            y = x ** 2
            return y

        def backward(self, gy):
            x = self.input.data
            gx = 2 * x * gy
            return gx

    x = Variable(np.array(0.5))
    y = MySquare()(engine.Exp()(engine.Square()(x)))
    y.backward()
    assert str(x.grad) == SEED_GRAD
    assert isinstance(y.creator, MySquare) and y.creator.output is y


def test_intermediate_gradients_of_the_seed_chain():
    x = Variable(0.5)
    a = square(x)
    b = exp(a)
    y = square(b)
    y.backward(retain_grad=True)
    assert close(y.data, 1.648721270700128)
    assert close(x.grad, 3.297442541400256)
    assert close(a.grad, 3.297442541400256)
    assert close(b.grad, 2.568050833375483)
    assert close(y.grad, 1.0)


# ================================================================ Variable


@pytest.mark.parametrize("data", [2, 2.0, np.float32(2.0), np.array(2), np.array([1, 2]), True])
def test_numbers_and_integer_arrays_become_float_arrays(data):
    x = Variable(data)
    assert isinstance(x.data, np.ndarray)
    assert x.data.dtype.kind == "f"
    np.testing.assert_array_equal(x.data, np.asarray(data, dtype=np.float64))


def test_float32_arrays_keep_their_dtype():
    assert Variable(np.ones(3, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    "data, words",
    [
        ("0.5", "str"),
        (None, "NoneType"),
        ([1.0, 2.0], "np.array"),
        (1 + 2j, "complex"),
        (np.array(["a"]), "dtype <U1"),
        (np.array([object()]), "dtype object"),
    ],
)
def test_unsupported_data_raises_type_error_naming_it(data, words):
    with pytest.raises(TypeError, match=words):
        Variable(data)


def test_variable_array_attributes_len_and_repr():
    x = Variable(np.arange(6.0).reshape(2, 3), name="w")
    assert (x.shape, x.ndim, x.size, x.dtype, len(x)) == ((2, 3), 2, 6, np.float64, 2)
    assert repr(x) == "variable([[0., 1., 2.],\n          [3., 4., 5.]], name='w')"
    assert repr(Variable(0.5)) == "variable(0.5)"
    with pytest.raises(TypeError):
        len(Variable(1.0))


def test_iterating_a_variable_goes_over_its_first_axis_and_a_0d_one_is_refused():
    x = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(row, Variable) for row in rows)
    assert rows[1].data.tolist() == [3.0, 4.0] and rows[1].creator is not None  # x[1], recorded
    with pytest.raises(TypeError, match="iteration over a 0-d Variable"):  # as numpy: not zero times
        iter(Variable(2.0))


def test_variable_is_hashed_by_identity_and_compares_by_value():
    x, y = Variable(1.0), Variable(1.0)
    assert len({x, y}) == 2  # two variables, though equal in value
    assert (x == y) is np.True_ and (x != y) is np.False_
    assert (x < 2) and (x <= 1.0) and (x > 0) and (x >= y) and not (x > y)
    assert (Variable(np.array([1.0, 3.0])) > 2).tolist() == [False, True]
    assert (x > 0).__class__ is np.bool_  # a plain boolean: no graph


def test_comparisons_record_nothing():
    x = Variable(0.5)
    result = x > 0
    assert not isinstance(result, Variable) and x.creator is None


def test_bool_float_and_int_of_one_element_variables():
    assert bool(Variable(0.5)) and not bool(Variable(0.0))
    assert float(Variable(np.array([2.5]))) == 2.5 and int(Variable(3.0)) == 3
    with pytest.raises(TypeError, match="one-element"):
        float(Variable(np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Variable(np.array([1.0, 2.0])))


@pytest.mark.parametrize("call, words", [
    (lambda v: np.sum(v), "engine's sum"),
    (lambda v: np.mean(v), "engine's mean"),
    (lambda v: np.sin(v), "does not support ufuncs"),
    (lambda v: np.percentile(v, 50), ".data for the plain array"),
    (lambda v: np.asarray(v), ".data for the plain array"),
    (lambda v: np.array([v, v]), ".data for the plain array"),
])
def test_numpy_functions_on_a_variable_say_what_to_use(call, words):
    with pytest.raises(TypeError, match=re.escape(words)):
        call(Variable(np.array([1.0, 2.0])))


# ================================================================ operators


def test_operators_with_numbers_arrays_and_reflected_forms():
    x = Variable(3.0)
    cases = {
        "x + 2": (x + 2, 5.0), "2 + x": (2 + x, 5.0), "x - 2": (x - 2, 1.0), "2 - x": (2 - x, -1.0),
        "x * 2": (x * 2, 6.0), "2 * x": (2 * x, 6.0), "x / 2": (x / 2, 1.5), "3 / x": (3 / x, 1.0),
        "x ** 2": (x ** 2, 9.0), "2 ** x": (2 ** x, 8.0), "-x": (-x, -3.0), "+x": (+x, 3.0),
        "abs(-x)": (abs(-x), 3.0),
    }
    for text, (result, expected) in cases.items():
        assert isinstance(result, Variable), text
        assert close(result.data, expected), text


def test_ndarray_on_the_left_dispatches_to_variable():
    x = Variable(np.array([1.0, 2.0]))
    for result in (np.array([3.0, 4.0]) * x, np.array([3.0, 4.0]) + x, np.array([3.0, 4.0]) - x,
                   np.array([3.0, 4.0]) / x, np.array([[1.0, 0.0]]) @ x, np.float64(2.0) * x):
        assert isinstance(result, Variable)
    y = np.array([3.0, 4.0]) * x
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_operator_gradients_by_hand():
    a, b = Variable(3.0), Variable(4.0)
    y = a * b + a / b - b ** 2 + 2 ** a - (-a)  # hand: dy/da = b + 1/b + 2**a ln 2 + 1
    y.backward()
    assert close(a.grad, 4 + 0.25 + 8 * math.log(2) + 1)
    assert close(b.grad, 3 - 3 / 16 - 8)  # dy/db = a - a/b² - 2b


def test_matmul_operator_gradient_by_hand():
    w = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    v = Variable(np.array([1.0, -1.0]))
    (w @ v).sum().backward()
    np.testing.assert_array_equal(w.grad, [[1.0, -1.0], [1.0, -1.0]])  # outer(ones, v)
    np.testing.assert_array_equal(v.grad, [4.0, 6.0])  # column sums of w


def test_broadcast_gradients_are_reduced_to_each_input_shape():
    x = Variable(np.ones((2, 3)))
    b = Variable(np.ones(3))
    c = Variable(2.0)
    y = (x * b + c).sum()
    y.backward()
    assert x.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == ()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    assert c.grad == 6.0


def test_shape_mismatch_raises_value_error_naming_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)|\(3,\).*\(2,\)"):
        Variable(np.ones(2)) + Variable(np.ones(3))


# ================================================================ backward


def test_diamond_uses_generation_order():
    x = Variable(2.0)
    a = x ** 2
    y = a ** 2 + a ** 2
    y.backward()
    assert x.grad == 64.0  # an engine without topological order gives 96


def test_same_variable_used_three_times_accumulates():
    x = Variable(3.0)
    y = x + x + x
    y.backward()
    assert x.grad == 3.0


def test_sphere_gradient():
    x, y = Variable(1.0), Variable(1.0)
    z = x ** 2 + y ** 2
    z.backward()
    assert (x.grad, y.grad) == (2.0, 2.0)


def test_gradients_accumulate_across_calls_until_cleargrad():
    x = Variable(3.0)
    (x * x).backward()
    (x * x).backward()
    assert x.grad == 12.0
    x.cleargrad()
    (x * x).backward()
    assert x.grad == 6.0


def test_retain_grad_keeps_intermediate_gradients():
    x = Variable(2.0)
    a = square(x)
    y = a * 3
    y.backward()
    assert a.grad is None and y.grad is None and x.grad == 12.0
    x.cleargrad()
    y = square(x) * 3
    a = y.creator.inputs[0]
    y.backward(retain_grad=True)
    assert a.grad == 3.0 and y.grad == 1.0


def test_backward_on_a_leaf_seeds_ones():
    x = Variable(np.array([1.0, 2.0]))
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_non_scalar_output_is_seeded_with_ones():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = x * x
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_newton_with_second_derivative():
    expected = [1.4545454545454546, 1.1510467893775467, 1.0253259289766978]
    x = Variable(2.0)
    y = x ** 4 - 2 * x ** 2
    y.backward(create_graph=True)
    assert isinstance(x.grad, Variable) and x.grad.data == 24.0
    gx = x.grad
    x.cleargrad()
    gx.backward()
    assert x.grad == 44.0
    steps = []
    x = Variable(2.0)
    for _ in range(3):
        x.cleargrad()
        y = x ** 4 - 2 * x ** 2
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        x.data = x.data - gx.data / x.grad
        steps.append(float(x.data))
    assert all(close(s, e) for s, e in zip(steps, expected))


def test_nth_derivative_of_tanh_at_zero():
    # Taylor series tanh x = x − x³/3 + 2x⁵/15 − …: derivatives at 0 are 1, 0, −2, 0, 16
    expected = [1.0, 0.0, -2.0, 0.0, 16.0]
    x = Variable(0.0)
    y = engine.tanh(x)
    got = []
    for _ in range(5):
        x.cleargrad()
        y.backward(create_graph=True)
        y = x.grad
        got.append(float(y.data))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_hook_sees_every_function_in_order_and_accumulation():
    x = Variable(2.0)
    a = square(x)
    y = a * a  # a is used twice: the second input's gradient is added to the first
    calls = []
    y.backward(hook=lambda f, gys, gxs, acc: calls.append((type(f).__name__, gys, gxs, acc)))
    assert [c[0] for c in calls] == ["Mul", "Square"]
    name, gys, gxs, accumulated = calls[0]
    assert gys == (1.0,) and gxs == (4.0, 4.0) and accumulated == (False, True)
    assert calls[1][1] == (8.0,) and calls[1][2] == (32.0,) and calls[1][3] == (False,)


def test_backward_is_iterative_for_a_deep_chain():
    depth, c, x0 = 10 ** 6, 1.0000001, 0.5
    x = Variable(x0)
    y = x
    for _ in range(depth):
        y = y ** c
    assert sys.getrecursionlimit() <= 10 ** 4
    y.backward()
    power = c ** depth  # y = x^(c^n), so dy/dx = c^n · x^(c^n − 1), by hand
    assert close(y.data, x0 ** power, rel=1e-6)
    assert close(x.grad, power * x0 ** (power - 1), rel=1e-6)


def test_dropped_graph_is_freed_without_the_garbage_collector():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        x = Variable(np.ones(1000))
        y = x
        intermediates = []
        for _ in range(100):
            y = sin(y) * 2
            intermediates.append(weakref.ref(y))
        y.backward()
        assert x.grad.shape == (1000,)
        del y
        assert [ref() for ref in intermediates] == [None] * 100
    finally:
        if was_enabled:
            gc.enable()


# ================================================================ Config and errors


def test_no_grad_records_no_graph():
    x = Variable(2.0)
    with no_grad():
        y = square(x)
    assert y.creator is None and Config.enable_backprop
    with using_config("enable_backprop", False):
        assert not Config.enable_backprop
    assert Config.enable_backprop


def test_functions_on_plain_arrays_return_numpy_results():
    assert isinstance(sin(np.array([0.0, 1.0])), np.ndarray)
    assert close(square(3.0), 9.0)


def test_user_backward_returning_wrong_shape_names_function_and_shapes():
    class Broken(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return np.ones(5)

    y = Broken()(Variable(np.ones(3)))
    with pytest.raises(ValueError, match=r"Broken\.backward.*\(5,\).*\(3,\)"):
        y.backward()


def test_user_forward_returning_a_non_number_is_a_type_error():
    class Stringy(Function):
        def forward(self, x):
            return "oops"

    with pytest.raises(TypeError, match="Stringy.forward"):
        Stringy()(Variable(1.0))


def test_wrong_number_of_gradients_is_a_value_error():
    class TwoGrads(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            return gy, gy

    with pytest.raises(ValueError, match="TwoGrads.backward returned 2 gradients for 1 input$"):
        TwoGrads()(Variable(1.0)).backward()

    class OneGrad(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy

    with pytest.raises(ValueError, match="OneGrad.backward returned 1 gradient for 2 inputs$"):
        OneGrad()(Variable(1.0), Variable(2.0)).backward()
    x = Variable(1.0)
    with pytest.raises(ValueError, match="grad: 1 grad_output for 2 outputs$"):
        engine.grad([x * 2, x * 3], x, grad_outputs=[np.array(1.0)])


def test_multi_output_function_with_an_unused_output():
    class Split(Function):
        def forward(self, x):
            return x * 2, x * 3

        def backward(self, g2, g3):
            return 2 * g2 + 3 * g3

    x = Variable(1.0)
    double, triple = Split()(x)
    (double * 5).backward()  # triple gets no gradient: it counts as zero
    assert x.grad == 10.0


def test_seed_style_input_property_refuses_multi_input_functions():
    y = Variable(1.0) + Variable(2.0)
    with pytest.raises(AttributeError, match=r"(?<!\d)2 inputs"):
        y.creator.input


# ================================================================ grad: the functional form


def test_grad_returns_the_seed_gradients_and_touches_no_grad():
    x = Variable(0.5)
    a = square(x)
    y = square(exp(a))
    gx, ga = engine.grad(y, [x, a])
    assert gx == pytest.approx(3.297442541400256, rel=1e-15) and ga == pytest.approx(3.297442541400256, rel=1e-15)
    assert x.grad is None and a.grad is None and y.grad is None


def test_grad_leaves_existing_grads_alone():
    x = Variable(2.0)
    x.grad = np.array(100.0)
    gx, = engine.grad(x * x, x)
    assert float(gx) == 4.0 and float(x.grad) == 100.0


@pytest.mark.parametrize("make, x0, expected", [
    (lambda x: 3 * x, 0.5, [3.0, 0.0, 0.0]),
    (lambda x: x + 1, 0.5, [1.0, 0.0, 0.0]),
    (lambda x: square(x), 0.5, [1.0, 2.0, 0.0, 0.0]),
    (lambda x: x * x * x, 2.0, [12.0, 12.0, 6.0, 0.0, 0.0]),
    (lambda x: x ** 4 - 2 * x ** 2, 2.0, [24.0, 44.0, 48.0, 24.0, 0.0]),
])
def test_repeated_grad_gives_every_order_including_the_zeros(make, x0, expected):
    # hand-derived: d/dx 3x = 3, then 0; (x³)' = 3x², 6x, 6, 0; (x⁴ − 2x²)' = 4x³ − 4x, 12x² − 4, 24x, 24, 0
    x = Variable(x0)
    g = make(x)
    found = []
    for _ in expected:
        g, = engine.grad(g, x, create_graph=True)
        found.append(float(g.data))
    assert found == expected


def test_grad_of_an_unrelated_input_is_zeros_of_its_shape():
    x, w = Variable(0.5), Variable(np.ones((2, 3)))
    gx, gw = engine.grad(sin(x), [x, w])
    assert float(gx) == pytest.approx(np.cos(0.5)) and gw.shape == (2, 3) and not gw.any()


def test_grad_with_grad_outputs_and_several_outputs():
    x = Variable(np.array([1.0, 2.0]))
    y1, y2 = x * x, 3 * x
    gx, = engine.grad([y1, y2], x, grad_outputs=[np.array([1.0, 10.0]), np.array([1.0, 1.0])])
    assert gx.tolist() == [2.0 * 1 + 3, 4.0 * 10 + 3]


def test_grad_runs_only_the_functions_that_lead_to_the_inputs():
    seen = []
    x, w = Variable(0.5), Variable(2.0)
    y = sin(x) + exp(w) * w
    engine.grad(y, x, hook=lambda f, gys, gxs, acc: seen.append(type(f).__name__))
    assert seen == ["Add", "Sin"]


def test_grad_of_the_diamond_uses_generation_order():
    x = Variable(2.0)
    a = x ** 2
    gx, = engine.grad(a ** 2 + a ** 2, x)
    assert float(gx) == 64.0


def test_grad_create_graph_gives_variables_and_newton_steps():
    x = Variable(2.0)
    for expected in [1.4545454545454546, 1.1510467893775467, 1.0253259289766978]:
        y = x ** 4 - 2 * x ** 2
        g, = engine.grad(y, x, create_graph=True)
        gg, = engine.grad(g, x)
        assert isinstance(g, Variable)
        x = Variable(x.data - g.data / gg)
        assert float(x.data) == pytest.approx(expected, rel=1e-12)


# ================================================================ backward and grad agree
# The same fresh graphs go through backward (gradients in .grad) and grad (a dict): the gradients must be
# equal and the hook must see the same steps. Every function of these graphs lies between the inputs and
# y, so grad, which runs only those, runs them all too. Expected values are derived by hand.


class Cube(Function):
    """Two outputs, x² and x³, so one backward gets two incoming gradients."""

    def forward(self, x):
        return x ** 2, x ** 3

    def backward(self, g2, g3):
        x, = self.inputs_like(g2)
        return 2 * x * g2 + 3 * x * x * g3


class Scaled(Function):
    """x·c where c is a constant: its backward returns None for c."""

    def forward(self, x, c):
        return x * c

    def backward(self, gy):
        x, c = self.inputs_like(gy)
        return gy * c, None


def _diamond():
    x = Variable(2.0)
    a = square(x)
    return [x], square(a) + square(a)  # y = 2x⁴: dy/dx = 8x³ = 64


def _fan_out():
    x = Variable(3.0)
    return [x], x * x  # dy/dx = 2x = 6


def _two_outputs():
    x, w = Variable(2.0), Variable(5.0)
    a, b = Cube()(x)
    return [x, w], a * w + b  # y = x²w + x³: dy/dx = 2xw + 3x² = 32, dy/dw = x² = 4


def _unused_output():
    x = Variable(2.0)
    a, b = Cube()(x)
    return [x], a * 5, b  # b (kept alive) gets no gradient, zeros: dy/dx = 10x = 20


def _none_for_an_input():
    x, c = Variable(2.0), Variable(4.0)
    return [x, c], square(Scaled()(x, c))  # y = (xc)²: dy/dx = 2xc·c = 64; c is declared constant: 0


def _second_order():
    x = Variable(3.0)
    return [x], x * x * x  # dy/dx = 3x² = 27, d²y/dx² = 6x = 18


def _hook_calls(calls):
    """A hook that appends (function name, incoming gradients, accumulated, the function) to ``calls``."""
    def hook(func, gys, gxs, accumulated):
        values = [float(gy.data if isinstance(gy, Variable) else gy) for gy in gys]
        calls.append((type(func).__name__, values, accumulated, func))
    return hook


def _leads_to(v, xs):
    return any(v is x for x in xs) or v.creator is not None and any(_leads_to(u, xs) for u in v.creator.inputs)


def _as_grad_reports(calls, xs):
    """backward's hook calls as grad reports them. grad says whether an input had a gradient before the
    function ran, so an input used twice by one function (y = a * a) shows its first flag at both places;
    and it keeps no gradient for a variable that leads to none of ``xs`` (a constant), so that one's is False."""
    seen = []
    for name, gys, accumulated, func in calls:
        inputs = func.inputs
        first = [next(j for j, v in enumerate(inputs) if v is x) for x in inputs]
        seen.append((name, gys, tuple(accumulated[j] and _leads_to(x, xs) for x, j in zip(inputs, first))))
    return seen


def _plain(calls):
    return [call[:3] for call in calls]


def _value(g):
    return np.asarray(g.data if isinstance(g, Variable) else g).tolist()


@pytest.mark.parametrize("make, expected", [
    (_diamond, [64.0]), (_fan_out, [6.0]), (_two_outputs, [32.0, 4.0]), (_unused_output, [20.0]),
    (_none_for_an_input, [64.0, 0.0]),
])
def test_backward_and_grad_agree_on_gradients_and_hook_calls(make, expected):
    xs, y, *alive = make()
    by_backward = []
    y.backward(hook=_hook_calls(by_backward))
    left = [_value(x.grad) if x.grad is not None else 0.0 for x in xs]  # None: declared constant
    reported = _as_grad_reports(by_backward, xs)
    xs, y, *alive = make()
    by_grad = []
    returned = [_value(g) for g in engine.grad(y, xs, hook=_hook_calls(by_grad))]
    assert left == returned == expected
    assert all(x.grad is None for x in xs)
    assert _plain(by_grad) == reported


def test_backward_and_grad_see_a_repeated_input_differently_as_documented():
    calls = {}
    for how in ("backward", "grad"):
        xs, y = _fan_out()
        calls[how] = []
        if how == "backward":
            y.backward(hook=_hook_calls(calls[how]))
        else:
            engine.grad(y, xs, hook=_hook_calls(calls[how]))
    assert _plain(calls["backward"]) == [("Mul", [1.0], (False, True))]  # the second flow adds to the first
    assert _plain(calls["grad"]) == [("Mul", [1.0], (False, False))]  # x had no gradient before Mul ran


def test_backward_and_grad_agree_on_second_derivatives():
    (x,), y = _second_order()
    first, second = [], []
    y.backward(create_graph=True, hook=_hook_calls(first))
    g = x.grad
    x.cleargrad()
    g.backward(hook=_hook_calls(second))
    by_backward = (_value(g), _value(x.grad), _as_grad_reports(first, [x]), _as_grad_reports(second, [x]))
    (x,), y = _second_order()
    first, second = [], []
    g, = engine.grad(y, x, create_graph=True, hook=_hook_calls(first))
    gg, = engine.grad(g, x, hook=_hook_calls(second))
    assert isinstance(g, Variable) and x.grad is None
    assert by_backward[:2] == (_value(g), _value(gg)) == (27.0, 18.0)
    assert _plain(first) == by_backward[2] and first
    assert _plain(second) == by_backward[3] and second


# ================================================================ errors carry their function


class Broken(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        raise ZeroDivisionError("broken rule")


class WrongShape(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return np.ones(5)


@pytest.mark.parametrize("cls, error", [(Broken, ZeroDivisionError), (WrongShape, ValueError)])
@pytest.mark.parametrize("how", ["backward", "grad"])
def test_an_error_in_a_backward_carries_the_function_that_raised_it(cls, error, how):
    f = cls()
    x = Variable(1.0)
    y = exp(f(square(x)))
    with pytest.raises(error) as raised:
        y.backward() if how == "backward" else engine.grad(y, x)
    assert engine.failed_function(raised.value) is f


def test_an_error_outside_backward_carries_no_function():
    assert engine.failed_function(ValueError("plain")) is None
