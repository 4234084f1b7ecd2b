"""Forward mode in the engine (engine/core.py: jvp, push_tangents, jacobian, hessian): every Function's
jvp against central differences along random directions, on numbers and on arrays with broadcasting; jacobian by forward and by reverse mode against
central differences, and its choice of mode by the pass counts; hessian against sympy's, mixed partials
included."""
import inspect

import numpy as np
import pytest
import sympy

import engine
import engine.functions as F
from engine import Function, Variable, hessian, jacobian, jvp

RNG = np.random.default_rng(17)


def central_jvp(f, primals, tangents, h=1e-6):
    """(f(x + h t) − f(x − h t)) / 2h on plain numpy (the engine's functions return numpy results on arrays)."""
    up = [np.asarray(p, dtype=float) + h * np.asarray(t) for p, t in zip(primals, tangents)]
    down = [np.asarray(p, dtype=float) - h * np.asarray(t) for p, t in zip(primals, tangents)]
    return (np.asarray(f(*up), dtype=float) - np.asarray(f(*down), dtype=float)) / (2 * h)


# (name, function of Variables, the inputs' values): values keep away from kinks, ties and domain edges
CASES = [
    ("add, broadcast", lambda a, b: a + b, [RNG.normal(size=(2, 3)), RNG.normal(size=(3,))]),
    ("sub, broadcast", lambda a, b: a - b, [RNG.normal(size=(2, 1)), RNG.normal(size=(1, 3))]),
    ("mul, broadcast", lambda a, b: a * b, [RNG.normal(size=(2, 3)), RNG.normal(size=())]),
    ("div", lambda a, b: a / b, [RNG.normal(size=(3,)), 2.0 + RNG.random(size=(3,))]),
    ("neg", lambda x: -x, [RNG.normal(size=(2, 2))]),
    ("square", F.square, [RNG.normal(size=(3,))]),
    ("exp", F.exp, [RNG.normal(size=(3,))]),
    ("log", F.log, [1.0 + RNG.random(size=(3,))]),
    ("pow 3", lambda x: x ** 3, [RNG.normal(size=(3,))]),
    ("pow 0.5", lambda x: F.pow(x, 0.5), [1.0 + RNG.random(size=(2,))]),
    ("power", lambda a, b: a ** b, [1.0 + RNG.random(size=(3,)), RNG.normal(size=(3,))]),
    ("sqrt", F.sqrt, [1.0 + RNG.random(size=(3,))]),
    ("sin", F.sin, [RNG.normal(size=(3,))]),
    ("cos", F.cos, [RNG.normal(size=(3,))]),
    ("tan", F.tan, [0.5 * RNG.random(size=(3,))]),
    ("tanh", F.tanh, [RNG.normal(size=(3,))]),
    ("abs", lambda x: abs(x), [np.array([-1.5, 0.7, 2.0])]),
    ("sigmoid", F.sigmoid, [RNG.normal(size=(3,))]),
    ("relu", F.relu, [np.array([-1.5, 0.7, 2.0])]),
    ("clip", lambda x: F.clip(x, -1.0, 1.0), [np.array([-1.5, 0.3, 2.0])]),
    ("maximum", F.maximum, [np.array([1.0, -2.0, 3.0]), np.array([0.5, 1.0, 4.0])]),
    ("minimum", F.minimum, [np.array([1.0, -2.0, 3.0]), np.array([0.5, 1.0, 4.0])]),
    ("reshape", lambda x: F.reshape(x, (3, 2)), [RNG.normal(size=(2, 3))]),
    ("transpose axes", lambda x: F.transpose(x, (1, 2, 0)), [RNG.normal(size=(2, 3, 4))]),
    ("broadcast_to", lambda x: F.broadcast_to(x, (4, 3)), [RNG.normal(size=(3,))]),
    ("sum_to", lambda x: F.sum_to(x, (1, 3)), [RNG.normal(size=(4, 3))]),
    ("sum axis", lambda x: F.sum(x, axis=0), [RNG.normal(size=(4, 3))]),
    ("mean keepdims", lambda x: F.mean(x, axis=1, keepdims=True), [RNG.normal(size=(4, 3))]),
    ("max axis", lambda x: F.max(x, axis=1), [np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.5]])]),
    ("min", lambda x: F.min(x), [np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.5]])]),
    ("getitem slice", lambda x: x[1:, 0], [RNG.normal(size=(3, 2))]),
    ("getitem fancy", lambda x: x[np.array([0, 2, 0])], [RNG.normal(size=(3,))]),
    ("matmul", F.matmul, [RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))]),
    ("softmax", lambda x: F.softmax(x, axis=1), [RNG.normal(size=(2, 3))]),
    ("log_softmax", lambda x: F.log_softmax(x, axis=0), [RNG.normal(size=(2, 3))]),
    ("a network", lambda x, W, b: F.mean(F.tanh(F.matmul(x, W) + b) ** 2),
     [RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=(4,))]),
]


@pytest.mark.parametrize("name, f, values", CASES, ids=[c[0] for c in CASES])
def test_every_functions_jvp_is_the_central_difference_along_random_directions(name, f, values):
    for _ in range(3):
        tangents = [RNG.normal(size=np.shape(v)) for v in values]
        value, tangent = jvp(f, values, tangents)
        np.testing.assert_allclose(value, f(*[np.asarray(v, dtype=float) for v in values]), rtol=1e-12)
        np.testing.assert_allclose(tangent, central_jvp(f, values, tangents), rtol=1e-6, atol=1e-8, err_msg=name)


def test_every_engine_function_has_a_forward_rule():
    classes = [c for _, c in inspect.getmembers(F, inspect.isclass)
               if issubclass(c, Function) and c is not Function and c.__module__ == F.__name__ and not c.__name__.startswith("_")]
    assert len(classes) >= 30
    missing = [c.__name__ for c in classes if not c.linear and c.jvp is Function.jvp]
    assert not missing, missing


def test_a_users_function_without_a_forward_rule_says_what_to_write():
    class Cube(Function):
        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            return 3 * self.inputs[0].data ** 2 * gy

    with pytest.raises(NotImplementedError, match="Cube has no forward-mode rule: define jvp"):
        jvp(lambda x: Cube()(x), (2.0,), (1.0,))


def test_jvp_leaves_the_tangent_zero_where_the_output_does_not_depend_on_the_input():
    value, tangent = jvp(lambda x, c: x * 2.0 + c, (1.0, 5.0), (1.0, 0.0))
    assert float(value) == 7.0 and float(tangent) == 2.0
    values, tangents = jvp(lambda x: (F.sin(x), x * 3.0), (0.5,), (2.0,))  # several outputs: tuples
    assert tangents[0] == pytest.approx(2 * np.cos(0.5)) and tangents[1] == pytest.approx(6.0)


@pytest.mark.parametrize("n, m, mode", [(5, 1, "reverse"), (1, 6, "forward"), (3, 3, "reverse"), (2, 4, "forward")])
def test_jacobian_runs_the_mode_with_fewer_passes_and_both_agree_with_central_differences(n, m, mode):
    W = RNG.normal(size=(m, n))
    f = (lambda v: F.tanh(F.matmul(W, v))) if m > 1 else (lambda v: F.sum(F.sin(v) * W[0]))
    x = RNG.normal(size=(n,))
    J, info = jacobian(f, x, with_mode=True)
    assert info == {"mode": mode, "passes": n if mode == "forward" else m}
    expected = np.stack([central_jvp(f, [x], [np.eye(n)[i]]) for i in range(n)], axis=-1)
    np.testing.assert_allclose(J.reshape(expected.shape), expected, rtol=1e-6, atol=1e-9)
    other = jacobian(f, x, mode="reverse" if mode == "forward" else "forward")
    np.testing.assert_allclose(other, J, rtol=1e-12, atol=1e-14)


def test_jacobian_of_several_inputs_is_a_block_per_input():
    a, b = RNG.normal(size=(2,)), RNG.normal(size=(3,))
    Ja, Jb = jacobian(lambda u, v: F.sum(u) * v, [a, b])  # ∂(Σu·v)/∂u = v ⊗ 1, ∂/∂v = Σu·I
    np.testing.assert_allclose(Ja, np.outer(b, np.ones(2)), rtol=1e-12)
    np.testing.assert_allclose(Jb, np.sum(a) * np.eye(3), rtol=1e-12)


X, Y, Z = sympy.symbols("x y z")
HESSIAN_CASES = [
    (lambda x, y: x ** 2 * y + F.sin(x * y), X ** 2 * Y + sympy.sin(X * Y), (0.5, 2.0)),
    (lambda x, y, z: F.exp(x * y) / (1.0 + z ** 2) + F.tanh(z * x), sympy.exp(X * Y) / (1 + Z ** 2) + sympy.tanh(Z * X),
     (0.3, -0.7, 1.2)),
    (lambda x, y: F.log(x ** 2 + y ** 2 + 1.0) * F.sigmoid(x - y), sympy.log(X ** 2 + Y ** 2 + 1) / (1 + sympy.exp(-(X - Y))),
     (1.5, -0.5)),
    (lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x ** 2) ** 2, (1 - X) ** 2 + 100 * (Y - X ** 2) ** 2, (0.0, 2.0)),  # step 28's
]


@pytest.mark.parametrize("f, expression, point", HESSIAN_CASES, ids=["x²y+sin xy", "three inputs", "log·σ", "rosenbrock"])
def test_hessian_with_mixed_partials_is_sympys(f, expression, point):
    symbols = (X, Y, Z)[:len(point)]
    expected = np.array(sympy.hessian(expression, symbols).subs(dict(zip(symbols, point))).evalf(), dtype=float)
    got = hessian(f, point)
    assert got.shape == (len(point), len(point))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_the_engine_exports_the_three_functions():
    assert {"jvp", "jacobian", "hessian"} <= set(engine.__all__)
    assert isinstance(Variable(1.0), Variable)


def test_push_tangents_over_a_recorded_graph_limited_to_some_functions():
    """y = a·b with a = x², b = sin(x): the whole pass gives dy/dx = 2x·sin x + x²·cos x; through the Mul
    alone, seeded at a, ∂y/∂a = b; seeded at x, nothing reaches y; a rule of twice the jvp doubles twice
    (Square, then Mul)."""
    x = Variable(np.array(0.7))
    a, b = F.square(x), F.sin(x)
    y = a * b
    whole = engine.push_tangents(y, {x: 1.0})
    assert float(whole[y]) == pytest.approx(2 * 0.7 * np.sin(0.7) + 0.49 * np.cos(0.7), rel=1e-15)
    assert float(whole[a]) == pytest.approx(1.4) and float(whole[b]) == pytest.approx(np.cos(0.7))
    only_mul = engine.push_tangents(y, {a: 1.0}, functions=[y.creator])
    assert float(only_mul[y]) == pytest.approx(np.sin(0.7), rel=1e-15)
    assert y not in engine.push_tangents(y, {x: 1.0}, functions=[y.creator])  # x is not Mul's input
    doubled = engine.push_tangents(y, {x: 1.0}, rule=lambda func, *ts: 2 * func.jvp(*ts))
    assert float(doubled[y]) == pytest.approx(4 * float(whole[y]), rel=1e-15)  # two functions deep: 2 × 2
