"""Each stage of the learner's DeZero classes (tests/book_classes.py) against gradients derived by hand."""
import math
import weakref

import numpy as np
import pytest

from book_classes import STAGES, load

# the seed chain y = (exp(x²))² at x = 0.5: y = exp(2x²), dy/dx = 4x·exp(2x²) = 2·exp(0.5) = 3.297442541400256
SEED_X, SEED_GRAD = 0.5, 3.297442541400256

NAMES = {
    "step7": {"Variable", "Function", "Square", "Exp"},
    "step8": {"Variable", "Function", "Square", "Exp", "square", "exp", "as_array"},
    "step13": {"Variable", "Function", "Square", "Exp", "Add", "square", "exp", "add", "as_array"},
}
NAMES["step16"] = NAMES["step13"]
NAMES["step17"] = NAMES["step16"] | {"Config", "using_config", "no_grad"}
NAMES["step22"] = NAMES["step17"] | {"as_variable", "Mul", "Neg", "Sub", "Div", "Pow",
                                     "mul", "neg", "sub", "rsub", "div", "rdiv", "pow"}
NAMES["step32"] = NAMES["step22"] | {"Sin", "Cos", "sin", "cos"}

LATER = ["step8", "step13", "step16", "step17", "step22", "step32"]  # those with square()/exp() helpers
WEAK = ["step17", "step22", "step32"]  # outputs held through weakref.ref


def value(grad):
    """A gradient's number: an ndarray (or numpy scalar) before step 32, a Variable's data from then on."""
    return float(grad if isinstance(grad, (np.ndarray, np.generic)) else grad.data)


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_defines_its_names_in_a_namespace_of_its_own(stage):
    ns = load(stage)
    assert NAMES[stage] <= set(ns)
    assert ns["Variable"].__module__ == f"__book_{stage}__"
    assert load(stage)["Variable"] is not ns["Variable"]  # a fresh namespace each time


def test_step7_seed_chain_by_recursion():
    ns = load("step7")
    Variable, Square, Exp = ns["Variable"], ns["Square"], ns["Exp"]
    A, B, C = Square(), Exp(), Square()
    x = Variable(np.array(SEED_X))
    a = A(x)
    b = B(a)
    y = C(b)
    assert y.creator is C and C.input is b and b.creator is B and B.input is a and A.input is x
    y.grad = np.array(1.0)  # step 7 does not seed dy/dy itself
    y.backward()
    assert math.isclose(value(x.grad), SEED_GRAD, rel_tol=1e-15)


@pytest.mark.parametrize("stage", LATER)
def test_seed_chain_with_helpers(stage):
    ns = load(stage)
    x = ns["Variable"](np.array(SEED_X))
    y = ns["square"](ns["exp"](ns["square"](x)))
    y.backward()  # seeds dy/dy = 1 itself
    assert math.isclose(value(x.grad), SEED_GRAD, rel_tol=1e-15)


@pytest.mark.parametrize("stage", LATER)
def test_variable_takes_only_ndarrays_from_step9(stage):
    ns = load(stage)
    with pytest.raises(TypeError):
        ns["Variable"](1.0)
    assert ns["as_array"](1.0).shape == ()


def test_step13_overwrites_a_reused_input_grad():
    # the book's step 13 bug, fixed in step 14: y = x + x has dy/dx = 2, but x.grad = gx overwrites
    # the first 1 with the second, so x.grad is 1
    ns = load("step13")
    x = ns["Variable"](np.array(3.0))
    y = ns["add"](x, x)
    y.backward()
    assert value(y.data) == 6.0
    assert value(x.grad) == 1.0


def test_step13_two_inputs():
    # z = x² + y² at (2, 3): dz/dx = 2x = 4, dz/dy = 2y = 6
    ns = load("step13")
    x, y = ns["Variable"](np.array(2.0)), ns["Variable"](np.array(3.0))
    z = ns["add"](ns["square"](x), ns["square"](y))
    z.backward()
    assert value(z.data) == 13.0
    assert (value(x.grad), value(y.grad)) == (4.0, 6.0)


@pytest.mark.parametrize("stage", ["step16", "step17", "step22", "step32"])
def test_reuse_accumulates_and_cleargrad_resets(stage):
    # y = x + x: dy/dx = 1 + 1 = 2; after cleargrad, y = x + x + x: dy/dx = 3
    ns = load(stage)
    add, x = ns["add"], ns["Variable"](np.array(3.0))
    add(x, x).backward()
    assert value(x.grad) == 2.0
    x.cleargrad()
    add(add(x, x), x).backward()
    assert value(x.grad) == 3.0


@pytest.mark.parametrize("stage", ["step16", "step17", "step22", "step32"])
def test_diamond_in_generation_order(stage):
    # a = x², y = a² + a² = 2a² = 2x⁴, so dy/dx = 8x³ = 64 at x = 2
    # (a's gradient must be complete, 2a + 2a = 4a = 16, before square(x) sends 2x · 16 back)
    ns = load(stage)
    square, add = ns["square"], ns["add"]
    x = ns["Variable"](np.array(2.0))
    a = square(x)
    y = add(square(a), square(a))
    assert (x.generation, a.generation, y.generation) == (0, 1, 3)
    y.backward()
    assert value(y.data) == 32.0
    assert value(x.grad) == 64.0


@pytest.mark.parametrize("stage", WEAK)
def test_outputs_are_weak_references(stage):
    ns = load(stage)
    x = ns["Variable"](np.array(SEED_X))
    y = ns["square"](x)
    f = y.creator
    assert isinstance(f.outputs[0], weakref.ref)
    assert f.outputs[0]() is y


@pytest.mark.parametrize("stage", WEAK)
def test_retain_grad(stage):
    # a = x², y = a + a: dy/da = 2, dy/dx = 2 · 2x = 12 at x = 3
    ns = load(stage)
    square, add, Variable = ns["square"], ns["add"], ns["Variable"]
    x = Variable(np.array(3.0))
    a = square(x)
    y = add(a, a)
    y.backward()  # retain_grad=False: the grads of the functions' outputs are dropped
    assert value(x.grad) == 12.0
    assert a.grad is None and y.grad is None

    x = Variable(np.array(3.0))
    a = square(x)
    y = add(a, a)
    y.backward(retain_grad=True)
    assert (value(x.grad), value(a.grad), value(y.grad)) == (12.0, 2.0, 1.0)


@pytest.mark.parametrize("stage", WEAK)
def test_no_grad_builds_no_graph(stage):
    ns = load(stage)
    x = ns["Variable"](np.array(2.0))
    with ns["no_grad"]():
        y = ns["square"](x)
    assert y.creator is None and value(y.data) == 4.0
    assert ns["Config"].enable_backprop is True  # restored on leaving
    assert ns["square"](x).creator is not None


@pytest.mark.parametrize("stage", ["step22", "step32"])
def test_operators(stage):
    # y = 3x² - 2/x + (1 - x) - (-x)/4 at x = 2:
    #   y  = 12 - 1 + (-1) + 0.5 = 10.5
    #   y' = 6x + 2/x² - 1 + 1/4 = 12 + 0.5 - 1 + 0.25 = 11.75
    ns = load(stage)
    Variable = ns["Variable"]
    x = Variable(np.array(2.0), name="x")
    y = 3 * x ** 2 - 2 / x + (1 - x) - (-x) / 4
    y.backward()
    assert value(y.data) == 10.5
    assert value(x.grad) == 11.75
    # __array_priority__: an ndarray on the left still gives a Variable, d(2x)/dx = 2
    x.cleargrad()
    z = np.array(2.0) * x
    assert isinstance(z, Variable)
    z.backward()
    assert value(x.grad) == 2.0


@pytest.mark.parametrize("stage", ["step22", "step32"])
def test_variable_properties(stage):
    ns = load(stage)
    v = ns["Variable"](np.array([[1, 2, 3], [4, 5, 6]]), name="v")
    assert (v.name, v.shape, v.ndim, v.size, v.dtype, len(v)) == ("v", (2, 3), 2, 6, np.dtype(int), 2)
    assert repr(v) == "variable([[1 2 3]\n          [4 5 6]])"
    assert repr(ns["Variable"](None)) == "variable(None)"
    assert ns["as_variable"](v) is v
    assert isinstance(ns["as_variable"](np.array(1.0)), ns["Variable"])


def test_step32_second_derivative():
    # y = x⁴ - 2x² at x = 2: y' = 4x³ - 4x = 32 - 8 = 24, y'' = 12x² - 4 = 48 - 4 = 44
    ns = load("step32")
    Variable = ns["Variable"]
    x = Variable(np.array(2.0))
    y = x ** 4 - 2 * x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    assert isinstance(gx, Variable)
    assert value(gx) == 24.0
    assert gx.creator is not None  # the gradient has a graph of its own
    x.cleargrad()
    gx.backward()
    assert isinstance(x.grad, Variable)
    assert value(x.grad) == 44.0


def test_step32_grad_without_create_graph_has_no_graph():
    # y = x² at x = 3: y' = 6, a Variable with no creator
    ns = load("step32")
    x = ns["Variable"](np.array(3.0))
    ns["square"](x).backward()
    assert isinstance(x.grad, ns["Variable"]) and x.grad.creator is None
    assert value(x.grad) == 6.0


def test_step32_sin_cos_derivatives():
    # y = sin x at x = π/3: y' = cos x = 1/2, y'' = -sin x = -√3/2
    ns = load("step32")
    x = ns["Variable"](np.array(np.pi / 3))
    y = ns["sin"](x)
    y.backward(create_graph=True)
    gx = x.grad
    assert math.isclose(value(gx), 0.5, rel_tol=1e-12)
    x.cleargrad()
    gx.backward()
    assert math.isclose(value(x.grad), -math.sqrt(3) / 2, rel_tol=1e-12)
    # y = cos x at x = π/3: y' = -sin x = -√3/2
    x = ns["Variable"](np.array(np.pi / 3))
    ns["cos"](x).backward()
    assert math.isclose(value(x.grad), -math.sqrt(3) / 2, rel_tol=1e-12)
