"""Every engine function and operator against independent oracles.

Expected values come only from plain numpy reference functions written here, central differences
of those references (``num_grad`` below), hand-derived derivatives, or literal numbers. The
engine's own ``numerical_grad``/``gradient_check`` are never used as oracles.
"""
import builtins
import inspect
import re
import zlib

import numpy as np
from reference import central_differences
import pytest

import engine as E
from engine import Variable
from engine import core as engine_core
from engine import functions as engine_functions

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-6


# ---------------------------------------------------------------- helpers


def num_grad(f, *arrays, eps=EPS):
    """Central differences of the scalar f(*arrays) (see tests/reference.py)."""
    return central_differences(f, *arrays, eps=eps)


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def sample(rng, shape, domain):
    """Inputs for ``domain``, kept away from poles, kinks, clip bounds and ties."""
    size = int(np.prod(shape))
    if domain == "any":
        x = rng.uniform(-2, 2, size)
    elif domain == "pos":
        x = rng.uniform(0.5, 2, size)
    elif domain == "trig":  # tan: well inside (-pi/2, pi/2)
        x = rng.uniform(-1.2, 1.2, size)
    elif domain == "nonzero":  # abs, relu, divisors: |x| >= 0.3
        x = rng.choice([-1, 1], size) * rng.uniform(0.3, 2, size)
    elif domain == "clip":  # clip(-0.5, 0.5): at least 0.1 from each bound
        magnitude = np.where(rng.random(size) < 0.5, rng.uniform(0, 0.4, size), rng.uniform(0.6, 2, size))
        x = rng.choice([-1, 1], size) * magnitude
    elif domain == "distinct":  # max/min: values at least 0.2 apart
        x = (rng.permutation(size) - size / 2) * 0.3 + rng.uniform(-0.05, 0.05, size)
    else:
        raise AssertionError(domain)
    return x.reshape(shape)


def grad_or_zeros(v):
    if v.grad is None:
        return np.zeros_like(v.data)
    return v.grad.data if isinstance(v.grad, Variable) else v.grad


def check_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- numpy references


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis=-1):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return np.log(np_softmax(x, axis))


def np_sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1)
    return np.sum(x, axis=axes, keepdims=True).reshape(shape)


# ---------------------------------------------------------------- unary table

# (id, engine function, numpy reference, input shape, domain)
ELEMENTWISE = [
    ("square", E.square, np.square, "any"),
    ("exp", E.exp, np.exp, "any"),
    ("log", E.log, np.log, "pos"),
    ("sin", E.sin, np.sin, "any"),
    ("cos", E.cos, np.cos, "any"),
    ("tan", E.tan, np.tan, "trig"),
    ("tanh", E.tanh, np.tanh, "any"),
    ("sqrt", E.sqrt, np.sqrt, "pos"),
    ("pow3", lambda x: E.pow(x, 3), lambda x: x ** 3, "any"),
    ("pow2.5", lambda x: E.pow(x, 2.5), lambda x: x ** 2.5, "pos"),
    ("pow-1.5", lambda x: E.pow(x, -1.5), lambda x: x ** -1.5, "pos"),
    ("pow0", lambda x: E.pow(x, 0), lambda x: x ** 0.0, "nonzero"),
    ("abs", E.abs, np.abs, "nonzero"),
    ("sigmoid", E.sigmoid, np_sigmoid, "any"),
    ("relu", E.relu, lambda x: np.maximum(x, 0), "nonzero"),
    ("clip", lambda x: E.clip(x, -0.5, 0.5), lambda x: np.minimum(np.maximum(x, -0.5), 0.5), "clip"),
    ("neg", E.neg, np.negative, "any"),
]

UNARY = [(f"{name}-{shape}", fn, ref, shape, dom) for name, fn, ref, dom in ELEMENTWISE
         for shape in [(), (3,), (2, 3)]]


def _reduction_cases():
    cases = []
    reductions = [("sum", E.sum, np.sum, "any"), ("mean", E.mean, np.mean, "any"),
                  ("max", E.max, np.amax, "distinct"), ("min", E.min, np.amin, "distinct")]
    for axis in [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2), [1, 2]]:
        np_axis = None if axis is None else tuple(np.atleast_1d(axis))
        for keepdims in [False, True]:
            for name, ours, theirs, values in reductions:
                cases.append((f"{name}-axis={axis},keep={keepdims}",
                              lambda x, f=ours, a=axis, k=keepdims: f(x, a, k),
                              lambda x, f=theirs, a=np_axis, k=keepdims: f(x, axis=a, keepdims=k),
                              (2, 3, 4), values))
    # 0-d and 1-d inputs
    cases += [
        ("sum-0d", E.sum, np.sum, (), "any"),
        ("sum-0d-axis0", lambda x: E.sum(x, 0), lambda x: x.copy(), (), "any"),
        ("mean-0d", E.mean, np.mean, (), "any"),
        ("max-0d", E.max, np.max, (), "any"),
        ("sum-1d-keep", lambda x: E.sum(x, 0, True), lambda x: np.sum(x, 0, keepdims=True), (5,), "any"),
        ("mean-1d", E.mean, np.mean, (5,), "any"),
        ("max-1d", E.max, np.max, (5,), "distinct"),
        ("min-1d-keep", lambda x: E.min(x, -1, True), lambda x: np.min(x, -1, keepdims=True), (5,), "distinct"),
    ]
    return cases


SHAPE_CASES = [
    ("reshape-(6,)", lambda x: E.reshape(x, (6,)), lambda x: x.reshape(6), (2, 3), "any"),
    ("reshape-(3,2)", lambda x: E.reshape(x, (3, 2)), lambda x: x.reshape(3, 2), (2, 3), "any"),
    ("reshape-(-1,)", lambda x: E.reshape(x, (-1,)), lambda x: x.reshape(-1), (2, 3), "any"),
    ("reshape-list", lambda x: E.reshape(x, [1, 6, 1]), lambda x: x.reshape(1, 6, 1), (2, 3), "any"),
    ("reshape-int", lambda x: E.reshape(x, 6), lambda x: x.reshape(6), (2, 3), "any"),
    ("reshape-0d-(1,1)", lambda x: E.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), (), "any"),
    ("transpose-default", E.transpose, lambda x: x.T, (2, 3, 4), "any"),
    ("transpose-(1,0,2)", lambda x: E.transpose(x, (1, 0, 2)), lambda x: x.transpose(1, 0, 2), (2, 3, 4), "any"),
    ("transpose-(2,0,1)", lambda x: E.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1), (2, 3, 4), "any"),
    ("transpose-2d", E.transpose, lambda x: x.T, (2, 3), "any"),
    ("broadcast_to-(3,)->(2,3)", lambda x: E.broadcast_to(x, (2, 3)), lambda x: np.tile(x, (2, 1)), (3,), "any"),
    ("broadcast_to-(2,1)->(2,3)", lambda x: E.broadcast_to(x, (2, 3)), lambda x: np.tile(x, (1, 3)), (2, 1), "any"),
    ("broadcast_to-()->(2,3)", lambda x: E.broadcast_to(x, (2, 3)), lambda x: np.full((2, 3), x), (), "any"),
    ("broadcast_to-(1,3)->(4,2,3)", lambda x: E.broadcast_to(x, (4, 2, 3)), lambda x: np.tile(x, (4, 2, 1)), (1, 3), "any"),
    ("sum_to-(2,3)->(3,)", lambda x: E.sum_to(x, (3,)), lambda x: x[0] + x[1], (2, 3), "any"),
    ("sum_to-(2,3)->(2,1)", lambda x: E.sum_to(x, (2, 1)), lambda x: np_sum_to(x, (2, 1)), (2, 3), "any"),
    ("sum_to-(2,3)->(1,3)", lambda x: E.sum_to(x, (1, 3)), lambda x: np_sum_to(x, (1, 3)), (2, 3), "any"),
    ("sum_to-(4,2,3)->(2,3)", lambda x: E.sum_to(x, (2, 3)), lambda x: np_sum_to(x, (2, 3)), (4, 2, 3), "any"),
    ("sum_to-(4,2,3)->(2,1)", lambda x: E.sum_to(x, (2, 1)), lambda x: np_sum_to(x, (2, 1)), (4, 2, 3), "any"),
    ("sum_to-(2,3)->()", lambda x: E.sum_to(x, ()), np.sum, (2, 3), "any"),
]

GETITEM_CASES = [
    (f"getitem-{label}", lambda x, i=index: E.getitem(x, i), lambda x, i=index: x[i], (3, 4), "any")
    for label, index in [
        ("int", 1),
        ("neg-int", -1),
        ("slice", slice(1, None)),
        ("step-slice", slice(None, None, 2)),
        ("tuple", (slice(None), 2)),
        ("scalar-elem", (2, 3)),
        ("fancy-repeated", np.array([0, 2, 0, 0])),
        ("fancy-2d", (np.array([0, 1, 1]), np.array([3, 3, 0]))),
        ("bool-mask", np.array([True, False, True])),
        ("ellipsis", (Ellipsis, 1)),
        ("newaxis", (None, slice(0, 2))),
    ]
]

SOFTMAX_CASES = [
    (f"{name}-{shape}-axis={axis}", lambda x, a=axis, f=fn: f(x, a), lambda x, a=axis, r=ref: r(x, a), shape, "any")
    for name, fn, ref in [("softmax", E.softmax, np_softmax), ("log_softmax", E.log_softmax, np_log_softmax)]
    for shape, axis in [((3,), -1), ((3,), 0), ((2, 3), -1), ((2, 3), 0), ((2, 3), 1), ((2, 3, 4), 1), ((2, 3, 4), -3)]
]

ALL_UNARY = UNARY + _reduction_cases() + SHAPE_CASES + GETITEM_CASES + SOFTMAX_CASES
UNARY_IDS = [c[0] for c in ALL_UNARY]


def _unary_setup(case):
    name, fn, ref, shape, domain = case
    rng = rng_for(name)
    x = sample(rng, shape, domain)
    out_shape = np.shape(ref(x))
    W = rng.standard_normal(out_shape)
    return fn, ref, x, W


@pytest.mark.parametrize("case", ALL_UNARY, ids=UNARY_IDS)
def test_unary_forward(case):
    fn, ref, x, _ = _unary_setup(case)
    y = fn(Variable(x))
    assert isinstance(y, Variable)
    expected = ref(x)
    assert y.shape == np.shape(expected)
    check_close(y.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ALL_UNARY, ids=UNARY_IDS)
def test_unary_backward(case):
    fn, ref, x, W = _unary_setup(case)
    xv = Variable(x.copy())
    E.sum(fn(xv) * W).backward()
    assert xv.grad is not None
    assert type(xv.grad) in (np.ndarray, np.float64), "data-mode gradients are numpy values"
    assert np.shape(xv.grad) == x.shape
    expected, = num_grad(lambda a: np.sum(ref(a) * W), x)
    check_close(xv.grad, expected)
    np.testing.assert_array_equal(xv.data, x)  # the input was not modified


@pytest.mark.parametrize("case", ALL_UNARY, ids=UNARY_IDS)
def test_unary_second_order(case):
    """Hessian-vector product via create_graph=True against central differences of the first derivative."""
    fn, ref, x, W = _unary_setup(case)
    V = rng_for(case[0] + "V").standard_normal(x.shape)
    xv = Variable(x.copy())
    E.sum(fn(xv) * W).backward(create_graph=True)
    gx = xv.grad
    assert isinstance(gx, Variable)
    assert gx.shape == x.shape
    xv.cleargrad()
    E.sum(gx * V).backward()
    hv = grad_or_zeros(xv)
    assert np.shape(hv) == x.shape

    def first_derivative_dot_v(a):
        v = Variable(a)
        E.sum(fn(v) * W).backward()
        return np.sum(v.grad * V)

    expected, = num_grad(first_derivative_dot_v, x)
    check_close(hv, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ALL_UNARY, ids=UNARY_IDS)
def test_unary_on_plain_arrays_returns_numpy(case):
    fn, ref, x, _ = _unary_setup(case)
    y = fn(x)
    assert not isinstance(y, Variable)
    assert isinstance(y, (np.ndarray, np.floating))
    check_close(y, ref(x), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- hand-derived derivatives


def _sig(x):
    return np_sigmoid(x)


# (id, engine function, f', f'', domain)
HAND = [
    ("sin", E.sin, np.cos, lambda x: -np.sin(x), "any"),
    ("cos", E.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), "any"),
    ("exp", E.exp, np.exp, np.exp, "any"),
    ("log", E.log, lambda x: 1 / x, lambda x: -1 / x ** 2, "pos"),
    ("tan", E.tan, lambda x: 1 / np.cos(x) ** 2, lambda x: 2 * np.sin(x) / np.cos(x) ** 3, "trig"),
    ("tanh", E.tanh, lambda x: 1 / np.cosh(x) ** 2, lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2, "any"),
    ("sigmoid", E.sigmoid, lambda x: _sig(x) * (1 - _sig(x)),
     lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x)), "any"),
    ("sqrt", E.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5, "pos"),
    ("square", E.square, lambda x: 2 * x, lambda x: 2 + 0 * x, "any"),
    ("pow2.5", lambda x: E.pow(x, 2.5), lambda x: 2.5 * x ** 1.5, lambda x: 3.75 * x ** 0.5, "pos"),
    ("op-pow3", lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x, "any"),
    ("op-rpow", lambda x: 2.0 ** x, lambda x: np.log(2) * 2 ** x, lambda x: np.log(2) ** 2 * 2 ** x, "any"),
    ("op-rdiv", lambda x: 1.0 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3, "nonzero"),
    ("op-self-mul", lambda x: x * x * x, lambda x: 3 * x ** 2, lambda x: 6 * x, "any"),
    ("op-self-pow", lambda x: x ** x, lambda x: x ** x * (np.log(x) + 1),
     lambda x: x ** x * ((np.log(x) + 1) ** 2 + 1 / x), "pos"),
]


@pytest.mark.parametrize("name,fn,d1,d2,domain", HAND, ids=[h[0] for h in HAND])
def test_hand_derived_first_and_second_derivatives(name, fn, d1, d2, domain):
    x = sample(rng_for(name), (4,), domain)
    xv = Variable(x.copy())
    E.sum(fn(xv)).backward(create_graph=True)
    g1 = xv.grad
    check_close(g1.data, d1(x), rtol=1e-12, atol=1e-12)
    xv.cleargrad()
    E.sum(g1).backward()
    check_close(xv.grad, d2(x), rtol=1e-12, atol=1e-12)


def test_third_derivative_of_sin():
    x = np.array([-1.0, 0.3, 2.0])
    xv = Variable(x)
    E.sum(E.sin(xv)).backward(create_graph=True)
    g1 = xv.grad
    xv.cleargrad()
    E.sum(g1).backward(create_graph=True)
    g2 = xv.grad
    xv.cleargrad()
    E.sum(g2).backward()
    check_close(xv.grad, -np.cos(x), rtol=1e-12, atol=1e-12)


def test_literal_values():
    # forward values computed by hand
    check_close(E.sigmoid(Variable(0.0)).data, 0.5)
    check_close(E.softmax(Variable(np.array([0.0, np.log(2.0)]))).data, [1 / 3, 2 / 3], atol=1e-15)
    check_close(E.log_softmax(Variable(np.array([1000.0, 1000.0]))).data, [-np.log(2)] * 2, atol=1e-12)
    check_close(E.softmax(Variable(np.array([1000.0, 0.0]))).data, [1.0, 0.0], atol=1e-300)
    with np.errstate(all="raise"):
        check_close(E.sigmoid(Variable(np.array([-1000.0, 1000.0]))).data, [0.0, 1.0], atol=1e-300)
    # gradients by hand: d/dx x² at 3 is 6; d/dx of x·y at (2, 5) is (5, 2); d/dx ln at 4 is 0.25
    x, y = Variable(3.0), Variable(5.0)
    E.square(x).backward()
    assert x.grad == 6.0
    x = Variable(2.0)
    (x * y).backward()
    assert (x.grad, y.grad) == (5.0, 2.0)
    x = Variable(4.0)
    E.log(x).backward()
    assert x.grad == 0.25
    # d/dx clip at the bound is 1 (closed interval), outside 0
    x = Variable(np.array([-0.5, 0.5, 0.7, -2.0, 0.0]))
    E.sum(E.clip(x, -0.5, 0.5)).backward()
    np.testing.assert_array_equal(x.grad, [1, 1, 0, 0, 1])
    # abs and relu at 0 have gradient 0
    x = Variable(np.array([0.0, -3.0, 2.0]))
    E.sum(E.abs(x)).backward()
    np.testing.assert_array_equal(x.grad, [0, -1, 1])
    x = Variable(np.array([0.0, -3.0, 2.0]))
    E.sum(E.relu(x)).backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 1])


def test_max_min_ties_split_gradient_evenly():
    x = Variable(np.array([1.0, 3.0, 3.0]))
    E.max(x).backward()
    check_close(x.grad, [0.0, 0.5, 0.5])
    x = Variable(np.array([[1.0, 2.0], [1.0, 0.0]]))
    E.sum(E.min(x, axis=0) * np.array([2.0, 3.0])).backward()
    check_close(x.grad, [[1.0, 0.0], [1.0, 3.0]])
    x = Variable(np.full((2, 2), 7.0))
    E.max(x, axis=1, keepdims=True).backward()
    check_close(x.grad, np.full((2, 2), 0.5))
    x = Variable(np.array([[4.0, 4.0, 4.0], [1.0, 5.0, 5.0]]))
    E.sum(E.max(x, axis=1) * np.array([3.0, 10.0])).backward()
    check_close(x.grad, [[1.0, 1.0, 1.0], [0.0, 5.0, 5.0]])


def test_softmax_rows_sum_to_one_and_gradient_of_sum_is_zero():
    x = Variable(rng_for("sm").standard_normal((3, 4)))
    y = E.softmax(x, axis=1)
    check_close(y.data.sum(axis=1), np.ones(3), atol=1e-14)
    E.sum(y).backward()
    check_close(x.grad, np.zeros((3, 4)), atol=1e-14)


# ---------------------------------------------------------------- Variable methods and Python operators


METHOD_CASES = [
    ("T", lambda v: v.T, lambda x: x.T, (2, 3)),
    ("reshape-args", lambda v: v.reshape(3, 2), lambda x: x.reshape(3, 2), (2, 3)),
    ("reshape-tuple", lambda v: v.reshape((6,)), lambda x: x.reshape(6), (2, 3)),
    ("transpose-args", lambda v: v.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1), (2, 3, 4)),
    ("transpose-tuple", lambda v: v.transpose((1, 0, 2)), lambda x: x.transpose(1, 0, 2), (2, 3, 4)),
    ("transpose-none", lambda v: v.transpose(), lambda x: x.transpose(), (2, 3, 4)),
    ("sum-method", lambda v: v.sum(axis=0, keepdims=True), lambda x: x.sum(axis=0, keepdims=True), (2, 3)),
    ("getitem-op", lambda v: v[1:, ::2], lambda x: x[1:, ::2], (3, 4)),
    ("builtin-abs", builtins.abs, np.abs, (2, 3)),
    ("unary-minus", lambda v: -v, np.negative, (2, 3)),
    ("unary-plus", lambda v: +v * 2.0, lambda x: x * 2.0, (2, 3)),
]


# numpy semantics that the engine should follow (each found failing when these tests were written)
NUMPY_EDGE_CASES = [
    ("transpose-negative-axes", lambda v: E.transpose(v, (-1, 0, 1)), lambda x: np.transpose(x, (-1, 0, 1)),
     (2, 3, 4)),
    ("transpose-method-negative-axes", lambda v: v.transpose(-1, 0), lambda x: x.transpose(-1, 0), (2, 3)),
    ("pow-array-exponent-broadcasts-base", lambda v: v ** np.full((2, 3), 3.0), lambda x: x ** np.full((2, 3), 3.0),
     (3,)),
    ("sum-axis-empty-tuple", lambda v: E.sum(v, axis=()), lambda x: np.sum(x, axis=()), (2, 3)),
    ("mean-axis-empty-tuple", lambda v: E.mean(v, axis=()), lambda x: np.mean(x, axis=()), (2, 3)),
    ("max-axis-empty-tuple", lambda v: E.max(v, axis=()), lambda x: np.max(x, axis=()), (2, 3)),
]


@pytest.mark.parametrize("name,method,ref,shape", METHOD_CASES + NUMPY_EDGE_CASES,
                         ids=[c[0] for c in METHOD_CASES + NUMPY_EDGE_CASES])
def test_variable_methods(name, method, ref, shape):
    rng = rng_for(name)
    x = sample(rng, shape, "nonzero")
    W = rng.standard_normal(np.shape(ref(x)))
    xv = Variable(x.copy())
    y = method(xv)
    check_close(y.data, ref(x), rtol=0, atol=0)
    E.sum(y * W).backward()
    assert np.shape(xv.grad) == shape
    expected, = num_grad(lambda a: np.sum(ref(a) * W), x)
    check_close(xv.grad, expected)


# ---------------------------------------------------------------- binary operators with broadcasting

BINARY_OPS = [
    # (id, function used on Variables and on arrays alike, domain of a, domain of b)
    ("add", lambda a, b: a + b, "any", "any"),
    ("sub", lambda a, b: a - b, "any", "any"),
    ("mul", lambda a, b: a * b, "any", "any"),
    ("div", lambda a, b: a / b, "any", "nonzero"),
    ("pow", lambda a, b: a ** b, "pos", "any"),
    ("fn-add", E.add, "any", "any"),
    ("fn-sub", E.sub, "any", "any"),
    ("fn-mul", E.mul, "any", "any"),
    ("fn-div", E.div, "any", "nonzero"),
    ("maximum", E.maximum, "any", "any"),  # independent draws: ties have probability 0
    ("minimum", E.minimum, "any", "any"),
]
NP_BINARY = {"fn-add": np.add, "fn-sub": np.subtract, "fn-mul": np.multiply, "fn-div": np.divide,
             "maximum": np.maximum, "minimum": np.minimum}

BROADCAST_PAIRS = [((), ()), ((), (3,)), ((3,), ()), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)),
                   ((2, 3), (2, 3)), ((2, 3), (2, 1)), ((4, 1, 3), (2, 1)), ((1,), (2, 3))]

MATMUL_PAIRS = [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)),
                ((5, 2, 3), (1, 3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3,)),
                ((3,), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2))]

BINARY = [(f"{name}-{sa}-{sb}", fn, NP_BINARY.get(name, fn), sa, sb, da, db)
          for name, fn, da, db in BINARY_OPS for sa, sb in BROADCAST_PAIRS]
BINARY += [(f"matmul-{sa}-{sb}", fn, np.matmul, sa, sb, "any", "any")
           for fn in [E.matmul] for sa, sb in MATMUL_PAIRS]
BINARY += [(f"op@-{sa}-{sb}", lambda a, b: a @ b, np.matmul, sa, sb, "any", "any")
           for sa, sb in MATMUL_PAIRS[:4]]
BINARY_IDS = [c[0] for c in BINARY]


def _binary_setup(case):
    name, fn, ref, sa, sb, da, db = case
    rng = rng_for(name)
    a, b = sample(rng, sa, da), sample(rng, sb, db)
    W = rng.standard_normal(np.shape(ref(a, b)))
    return fn, ref, a, b, W


@pytest.mark.parametrize("case", BINARY, ids=BINARY_IDS)
def test_binary_forward_and_backward(case):
    fn, ref, a, b, W = _binary_setup(case)
    av, bv = Variable(a.copy()), Variable(b.copy())
    y = fn(av, bv)
    assert isinstance(y, Variable)
    check_close(y.data, ref(a, b), rtol=1e-12, atol=1e-12)
    E.sum(y * W).backward()
    ga, gb = num_grad(lambda p, q: np.sum(ref(p, q) * W), a, b)
    assert np.shape(av.grad) == a.shape and np.shape(bv.grad) == b.shape
    assert type(av.grad) in (np.ndarray, np.float64) and type(bv.grad) in (np.ndarray, np.float64)
    check_close(av.grad, ga)
    check_close(bv.grad, gb)


@pytest.mark.parametrize("case", BINARY, ids=BINARY_IDS)
def test_binary_second_order(case):
    fn, ref, a, b, W = _binary_setup(case)
    rng = rng_for(case[0] + "V")
    Va, Vb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    av, bv = Variable(a.copy()), Variable(b.copy())
    E.sum(fn(av, bv) * W).backward(create_graph=True)
    ga, gb = av.grad, bv.grad
    assert isinstance(ga, Variable) and isinstance(gb, Variable)
    assert ga.shape == a.shape and gb.shape == b.shape
    av.cleargrad()
    bv.cleargrad()
    (E.sum(ga * Va) + E.sum(gb * Vb)).backward()

    def grad_dot_v(p, q):
        pv, qv = Variable(p), Variable(q)
        E.sum(fn(pv, qv) * W).backward()
        return np.sum(pv.grad * Va) + np.sum(qv.grad * Vb)

    ha, hb = num_grad(grad_dot_v, a, b)
    check_close(grad_or_zeros(av), ha, rtol=1e-5, atol=1e-5)
    check_close(grad_or_zeros(bv), hb, rtol=1e-5, atol=1e-5)


FUNCTIONAL_BINARY = [c for c in BINARY if c[0].startswith(("fn-", "matmul"))]  # operators on arrays are numpy's


@pytest.mark.parametrize("case", FUNCTIONAL_BINARY, ids=[c[0] for c in FUNCTIONAL_BINARY])
def test_binary_on_plain_arrays_returns_numpy(case):
    fn, ref, a, b, _ = _binary_setup(case)
    y = fn(a, b)
    assert not isinstance(y, Variable)
    assert isinstance(y, (np.ndarray, np.floating))
    check_close(y, ref(a, b), rtol=0, atol=0)


A23 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
P23 = np.abs(A23) + 0.5
M34 = np.arange(12.0).reshape(3, 4) / 10 - 0.4

# (id, expression of the Variable v, the same expression on an array, shape of v, domain of v)
REFLECTED = [
    ("num+V", lambda v: 2.0 + v, "any"), ("V+num", lambda v: v + 2, "any"),
    ("nd+V", lambda v: A23 + v, "any"), ("V+nd", lambda v: v + A23, "any"),
    ("num-V", lambda v: 2.0 - v, "any"), ("nd-V", lambda v: A23 - v, "any"), ("V-nd", lambda v: v - A23, "any"),
    ("num*V", lambda v: 3 * v, "any"), ("nd*V", lambda v: A23 * v, "any"), ("V*nd", lambda v: v * A23, "any"),
    ("npf64*V", lambda v: np.float64(2.5) * v, "any"),
    ("num/V", lambda v: 2.0 / v, "nonzero"), ("nd/V", lambda v: A23 / v, "nonzero"),
    ("V/nd", lambda v: v / A23, "any"), ("V/num", lambda v: v / 4, "any"),
    ("num**V", lambda v: 2.0 ** v, "any"), ("nd**V", lambda v: P23 ** v, "any"),
    ("V**num", lambda v: v ** 2, "any"), ("V**neg", lambda v: v ** -2, "pos"),
    ("V**nd-same-shape", lambda v: v ** np.array([2.0, 3.0, 0.5]), "pos"),
    ("nd@V", lambda v: A23 @ v, "any"), ("V@nd", lambda v: v @ M34, "any"),
]


@pytest.mark.parametrize("name,expr,domain", REFLECTED, ids=[r[0] for r in REFLECTED])
def test_operators_with_constants(name, expr, domain):
    rng = rng_for(name)
    x = sample(rng, (3,), domain)
    expected_y = expr(x)  # the same expression evaluated by numpy
    W = rng.standard_normal(np.shape(expected_y))
    xv = Variable(x.copy())
    y = expr(xv)
    assert isinstance(y, Variable)
    check_close(y.data, expected_y, rtol=1e-12, atol=1e-12)
    E.sum(y * W).backward()
    assert np.shape(xv.grad) == x.shape
    expected, = num_grad(lambda a: np.sum(expr(a) * W), x)
    check_close(xv.grad, expected)


def test_fan_out_accumulates_gradients():
    x = Variable(np.array([0.3, -1.2]))
    y = x * x + E.sin(x) * x - x
    E.sum(y).backward()
    xs = x.data
    check_close(x.grad, 2 * xs + np.cos(xs) * xs + np.sin(xs) - 1, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- rule texts


def _function_classes():
    classes = {}
    for module in (engine_core, engine_functions):
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, E.Function) and obj is not E.Function \
                    and not name.startswith("_"):
                classes[name] = obj
    return classes


CONSTRUCTOR_ARGS = {
    "Pow": (3,), "Clip": (-1.0, 1.0), "Reshape": ((2, 3),), "BroadcastTo": ((2, 3),), "SumTo": ((3,),),
    "GetItem": (1,), "GetItemGrad": (1, (3,)), "Sum": (0, True), "Mean": (0, True), "Max": (1,), "Min": (None,),
    "Softmax": (0,), "LogSoftmax": (-1,), "Transpose": ((1, 0),),
}
FUNCTION_CLASSES = _function_classes()


def test_function_classes_discovered():
    expected = {"Add", "Sub", "Mul", "Div", "Neg", "Square", "Exp", "Log", "Pow", "Power", "Sqrt", "Sin", "Cos",
                "Tan", "Tanh", "Abs", "Sigmoid", "ReLU", "Clip", "Reshape", "Transpose", "BroadcastTo",
                "SumTo", "Sum", "Mean", "Max", "Min", "GetItem", "MatMul", "Softmax", "LogSoftmax"}
    assert expected <= set(FUNCTION_CLASSES)


@pytest.mark.parametrize("name", sorted(FUNCTION_CLASSES))
def test_rule_text_is_non_empty(name):
    func = FUNCTION_CLASSES[name](*CONSTRUCTOR_ARGS.get(name, ()))
    text = func.rule_text()
    assert isinstance(text, str) and text.strip()


def whole_numbers(text):
    """The numbers written in text, each whole ('x^3' gives '3'; '0.75' is not '0.7' or '75')."""
    return re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", text)


def test_rule_text_fills_in_parameters():
    assert E.Pow(3).rule_text() == "d/dx x³ = 3x²"  # the exponent written as a superscript
    assert {"7.5", "6.5"} <= set(whole_numbers(E.Pow(7.5).rule_text()))
    assert {"-0.25", "0.75"} <= set(whole_numbers(E.Clip(-0.25, 0.75).rule_text()))


# ---------------------------------------------------------------- clear errors


def V(shape):
    return Variable(np.zeros(shape))


@pytest.mark.parametrize("a,b", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2, 3)), ((5, 2, 3), (4, 3, 2))],
                         ids=str)
@pytest.mark.parametrize("how", ["function", "operator", "arrays"])
def test_matmul_mismatch_names_shapes(a, b, how):
    call = {"function": lambda: E.matmul(V(a), V(b)), "operator": lambda: V(a) @ V(b),
            "arrays": lambda: E.matmul(np.zeros(a), np.zeros(b))}[how]
    with pytest.raises(ValueError) as info:
        call()
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_matmul_0d_operand_raises():
    with pytest.raises(ValueError, match="1-D"):
        E.matmul(V(()), V((3,)))


@pytest.mark.parametrize("call", [
    lambda: V((2, 3)).reshape(4, 2),
    lambda: E.reshape(V((2, 3)), (5,)),
    lambda: E.reshape(V((2, 3)), (-1, 4)),
    lambda: E.reshape(np.zeros((2, 3)), (7,)),
], ids=["method", "function", "minus-one", "array"])
def test_reshape_incompatible_raises(call):
    with pytest.raises(ValueError, match="reshape"):
        call()


@pytest.mark.parametrize("call,axis", [
    (lambda: E.sum(V((2, 3)), axis=2), 2),
    (lambda: E.sum(V((2, 3)), axis=-3), -3),
    (lambda: E.sum(V((2, 3)), axis=(0, 2)), 2),
    (lambda: V((2, 3)).sum(axis=5), 5),
    (lambda: E.mean(V((2, 3)), axis=2), 2),
    (lambda: E.max(V((2, 3)), axis=2), 2),
    (lambda: E.min(V((2, 3)), axis=-4), -4),
    (lambda: E.softmax(V((2, 3)), axis=2), 2),
    (lambda: E.log_softmax(V((3,)), axis=1), 1),
    (lambda: E.sum(V(()), axis=1), 1),
    (lambda: E.sum(np.zeros((2, 3)), axis=2), 2),
], ids=["sum", "sum-neg", "sum-tuple", "sum-method", "mean", "max", "min", "softmax", "log_softmax",
        "sum-0d", "sum-array"])
def test_bad_axis_raises(call, axis):
    with pytest.raises(ValueError, match=rf"axis {axis}(?!\d)"):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: E.broadcast_to(V((2, 3)), (3, 2)), "broadcast"),
    (lambda: E.sum_to(V((2, 3)), (4,)), "sum_to"),
    (lambda: E.sum_to(V((3,)), (2, 3)), "sum_to"),
    (lambda: E.clip(V((2,)), 1.0, -1.0), "clip"),
    (lambda: E.max(V((0,))), "empty"),
    (lambda: V((2, 3)) + V((4,)), r"\(2,\s?3\)"),
], ids=["broadcast_to", "sum_to", "sum_to-rank", "clip-bounds", "max-empty", "add-shapes"])
def test_other_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- values where naive formulas fail


@pytest.mark.parametrize("x", [-30.0, -38.0, -200.0, -700.0, 30.0, 0.0])
def test_sigmoid_keeps_full_relative_precision_for_negative_x(x):
    # reference: 1/(1 + e^-x) in exact form e^x/(1 + e^x) for x < 0, by Python's math (not numpy)
    import math
    expected = math.exp(x) / (1 + math.exp(x)) if x < 0 else 1 / (1 + math.exp(-x))
    assert float(E.sigmoid(np.float64(x))) == pytest.approx(expected, rel=1e-15)


def test_log_sigmoid_of_minus_38_and_its_gradient():
    z = Variable(-38.0)
    loss = -E.log(E.sigmoid(z))
    loss.backward()
    # -log σ(z) = log(1 + e^-z) = 38 + log(1 + e^-38); d/dz = -(1 - σ(z)) = -1 + σ(z)
    assert float(loss.data) == pytest.approx(38.0, rel=1e-15)
    assert float(z.grad) == pytest.approx(-1.0, rel=1e-15)


def test_sigmoid_derivative_far_right_is_not_rounded_to_zero():
    x = Variable(40.0)
    E.sigmoid(x).backward()
    # σ'(40) = e^-40 / (1 + e^-40)^2
    assert float(x.grad) == pytest.approx(np.exp(-40.0), rel=1e-12)


@pytest.mark.parametrize("make, expected", [
    (lambda x: E.pow(x, 0), 0.0),       # d/dx x⁰ = 0 everywhere, also at 0
    (lambda x: E.pow(x, 1), 1.0),
    (lambda x: E.pow(x, 2), 0.0),
    (lambda x: x ** 3, 0.0),
])
def test_pow_at_zero_is_finite(make, expected):
    x = Variable(0.0)
    make(x).backward()
    assert float(x.grad) == expected


def test_second_derivative_of_x_to_the_one_at_zero_is_zero():
    x = Variable(0.0)
    g, = E.grad(x ** 1, x, create_graph=True)
    gg, = E.grad(g, x)
    assert float(g.data) == 1.0 and float(gg) == 0.0


@pytest.mark.parametrize("a, b, ga, gb", [
    (0.0, 2.0, 0.0, 0.0),           # 2·0¹ = 0; 0²·ln 0 → 0
    (0.0, 0.5, np.inf, 0.0),        # ½·0^(−½) = inf (a true pole); 0^½·ln 0 → 0
    (2.0, 0.0, 0.0, np.log(2.0)),   # 0·2⁻¹ = 0; 2⁰·ln 2
    (2.0, 3.0, 12.0, 8 * np.log(2.0)),
])
def test_power_gradients_at_and_away_from_zero(a, b, ga, gb):
    av, bv = Variable(a), Variable(b)
    with np.errstate(divide="ignore"):  # the pole at (0, 0.5) is real
        (av ** bv).backward()
    assert float(av.grad) == ga and float(bv.grad) == pytest.approx(gb, rel=1e-15)


def test_power_second_derivatives_at_zero_base_are_finite():
    a, b = Variable(0.0), Variable(3.0)
    ga, gb = E.grad(a ** b, [a, b], create_graph=True)
    gaa, = E.grad(ga, a)
    gbb, = E.grad(gb, b)
    # d²/da² a³ = 6a = 0; d²/db² aᵇ = aᵇ·ln²a → 0 as a → 0
    assert float(gaa) == 0.0 and float(gbb) == 0.0


@pytest.mark.parametrize("fn, a, b, ga, gb", [
    (E.maximum, 1.0, 2.0, 0.0, 1.0),
    (E.maximum, 3.0, 2.0, 1.0, 0.0),
    (E.maximum, 2.0, 2.0, 0.5, 0.5),  # a tie: split evenly, as the max reduction does
    (E.minimum, 1.0, 2.0, 1.0, 0.0),
    (E.minimum, 2.0, 2.0, 0.5, 0.5),
])
def test_maximum_and_minimum_of_two_operands(fn, a, b, ga, gb):
    av, bv = Variable(a), Variable(b)
    y = fn(av, bv)
    y.backward()
    assert float(y.data) == (max(a, b) if fn is E.maximum else min(a, b))
    assert (float(av.grad), float(bv.grad)) == (ga, gb)


def test_maximum_with_a_constant_broadcasts():
    x = Variable(np.array([-1.0, 0.5, 2.0]))
    E.sum(E.maximum(x, 0.0)).backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]


HELPERS = {"apply", "elementwise", "is_engine_function", "setup_variable"}  # public, but not functions of the graph


def test_the_registry_names_every_public_function_and_each_makes_a_node():
    public = {name for name, value in vars(engine_functions).items() if name.islower() and not name.startswith("_")
              and callable(value) and not isinstance(value, type)} - HELPERS
    assert set(engine_functions.FUNCTIONS) == public
    x = Variable(np.arange(1.0, 7.0).reshape(2, 3))
    after_x = {"add": (x,), "sub": (x,), "mul": (x,), "div": (x,), "maximum": (x,), "minimum": (x,), "matmul": (x.T,),
               "reshape": ((3, 2),), "broadcast_to": ((2, 2, 3),), "sum_to": ((3,),), "getitem": (0,),
               "clip": (2.0, 5.0), "pow": (2,), "transpose": ((1, 0),)}  # the others take x alone
    for name in public:
        y = getattr(engine_functions, name)(x, *after_x.get(name, ()))
        assert isinstance(y, Variable) and E.is_engine_function(y.creator), name


def test_the_registry_roles_name_parameters_of_their_functions():
    for name, entry in engine_functions.FUNCTIONS.items():
        if entry is not None:
            role, position = entry
            assert role in (engine_functions.COUNT, engine_functions.CONSTANT), name
            assert 0 < position < len(inspect.signature(getattr(engine_functions, name)).parameters), name


@pytest.mark.parametrize("call", [
    lambda: E.reshape(np.zeros((2, 3)), (7,)),
    lambda: E.sum(np.zeros((2, 3)), axis=2),
    lambda: E.matmul(np.zeros(2), np.zeros(3)),
    lambda: E.broadcast_to(V((2, 3)), (3, 2)),
    lambda: E.sum_to(V((2, 3)), (4,)),
], ids=["reshape", "axis", "matmul", "broadcast_to", "sum_to"])
def test_shape_errors_are_typed_on_arrays_and_on_variables(call):
    with pytest.raises(E.ShapeError) as raised:
        call()
    assert isinstance(raised.value, ValueError)


def test_is_engine_function_tells_the_engines_own_from_a_users():
    class Twice(E.Function):
        def forward(self, x):
            return 2 * x

    assert E.is_engine_function(E.Sin()) and E.is_engine_function(E.Add()) and E.is_engine_function(E.Pow(2))
    assert not E.is_engine_function(Twice())


@pytest.mark.parametrize("c, text", [(0, "d/dx x⁰ = 0"), (1, "d/dx x = 1"), (2, "d/dx x² = 2x"), (3, "d/dx x³ = 3x²"),
                                     (2.5, "d/dx x^2.5 = 2.5·x^1.5"), (-1, "d/dx x^-1 = -1·x^-2")])
def test_the_power_rule_reads_as_written_by_hand(c, text):
    assert E.Pow(c).rule_text() == text
