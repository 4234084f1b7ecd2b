"""Forward mode (issue 18) against an independent oracle, torch.func: every engine Function's jvp against
``torch.func.jvp`` of the same mathematical function written in torch, on numbers (0-d) and on arrays with
broadcasting, float64, random directions; ``engine.jacobian`` by forward and by reverse mode against
``torch.func.jacfwd`` and ``jacrev``; ``engine.hessian`` against ``torch.func.hessian``.

Skipped when torch is absent (CI installs it: .ci/run). Inputs keep away from kinks (abs, relu, clip),
ties (maximum, minimum, max, min) and domain edges (log, sqrt, tan), where the two engines may legitimately
pick different one-sided derivatives.

Tolerances: rtol 1e-10 throughout, the engine and torch computing the same closed forms in float64 (a few
ulps apart); atol 1e-12 (scaled by the size of the expected values for Jacobians and Hessians) only for
entries that are sums of O(1) terms cancelling to near 0 (softmax's yt − y·Σyt, matmul's Σ, a mixed
partial that is 0 in exact arithmetic), where a relative comparison says nothing.
"""
import inspect
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import func as tf  # noqa: E402

import engine  # noqa: E402
import engine.functions as F  # noqa: E402
from engine import Function, Variable  # noqa: E402

# torch's forward mode loads its decompositions through torch.jit.script, which warns that it is deprecated
# (torch's own code, nothing of ours)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RTOL, ATOL = 1e-10, 1e-12
RNG = np.random.default_rng(2718)


def t64(a):
    """A float64 tensor of the same values (0-d stays 0-d)."""
    return torch.from_numpy(np.array(a, dtype=np.float64))


# ================================================================ inputs kept away from kinks, ties and domain edges


def normal(shape):
    return np.array(RNG.normal(size=shape), dtype=np.float64)


def positive(shape):  # log, sqrt, the base of a ** b, a divisor
    return np.array(RNG.uniform(0.5, 2.0, size=shape), dtype=np.float64)


def small(shape):  # tan: inside (−1, 1), far from ±π/2
    return np.array(RNG.uniform(-1.0, 1.0, size=shape), dtype=np.float64)


def away_from(kinks, shape, gap=0.2):
    """Normal values at least ``gap`` from every kink (abs and relu at 0, clip at its bounds)."""
    x = np.array(RNG.normal(scale=1.5, size=shape), dtype=np.float64)
    while np.min([np.min(np.abs(x - k)) for k in kinks]) < gap:
        x = np.array(RNG.normal(scale=1.5, size=shape), dtype=np.float64)
    return x


def distinct(shape, gap=0.2):
    """Values no two of which are within ``gap`` (no ties for max and min reductions)."""
    n = int(np.prod(shape))
    return np.array(RNG.permutation(np.arange(n)) * gap + RNG.uniform(-1.0, 1.0), dtype=np.float64).reshape(shape)


def untied(shape_a, shape_b, gap=0.2):
    """Two operands that, broadcast against each other, differ by at least ``gap`` everywhere (maximum, minimum)."""
    a, b = normal(shape_a), normal(shape_b)
    while np.min(np.abs(a - b)) < gap:
        a, b = normal(shape_a), normal(shape_b)
    return a, b


# ================================================================ the cases: (id, engine function, torch function, inputs)

SCALAR, MATRIX = (), (2, 3)
BROADCAST = [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((3,), (2, 3))]

CASES = []


def case(name, engine_f, torch_f, *values):
    CASES.append((name, engine_f, torch_f, list(values)))


def shapes_id(*shapes):
    return " ".join(str(s).replace(" ", "") for s in shapes)


# arithmetic with broadcasting, numbers included
for sa, sb in BROADCAST:
    s = shapes_id(sa, sb)
    case(f"add {s}", lambda a, b: a + b, lambda a, b: a + b, normal(sa), normal(sb))
    case(f"sub {s}", lambda a, b: a - b, lambda a, b: a - b, normal(sa), normal(sb))
    case(f"mul {s}", lambda a, b: a * b, lambda a, b: a * b, normal(sa), normal(sb))
    case(f"div {s}", lambda a, b: a / b, lambda a, b: a / b, normal(sa), positive(sb))
    case(f"power a**b {s}", lambda a, b: a ** b, torch.pow, positive(sa), normal(sb))
    case(f"maximum {s}", F.maximum, torch.maximum, *untied(sa, sb))
    case(f"minimum {s}", F.minimum, torch.minimum, *untied(sa, sb))
# the engine functions called by name, and a Variable with a constant on either side
case("add by name", F.add, torch.add, normal(MATRIX), normal((3,)))
case("sub by name", F.sub, torch.sub, normal(MATRIX), normal((3,)))
case("mul by name", F.mul, torch.mul, normal(MATRIX), normal((3,)))
case("div by name", F.div, torch.div, normal(MATRIX), positive((3,)))
case("constant - x", lambda x: 2.5 - x, lambda x: 2.5 - x, normal(MATRIX))
case("constant / x", lambda x: 2.5 / x, lambda x: 2.5 / x, positive(MATRIX))
case("constant ** x (Power)", lambda x: 2.5 ** x, lambda x: torch.pow(2.5, x), normal(MATRIX))
case("x ** b, b = 0 (Power)", lambda a, b: a ** b, torch.pow, positive(MATRIX), np.zeros(3))

# one input, on a number and on a matrix
for shape in (SCALAR, MATRIX):
    s = shapes_id(shape)
    case(f"neg {s}", lambda x: -x, torch.neg, normal(shape))
    case(f"neg by name {s}", F.neg, torch.neg, normal(shape))
    case(f"square {s}", F.square, torch.square, normal(shape))
    case(f"exp {s}", F.exp, torch.exp, normal(shape))
    case(f"log {s}", F.log, torch.log, positive(shape))
    case(f"sqrt {s}", F.sqrt, torch.sqrt, positive(shape))
    case(f"sin {s}", F.sin, torch.sin, normal(shape))
    case(f"cos {s}", F.cos, torch.cos, normal(shape))
    case(f"tan {s}", F.tan, torch.tan, small(shape))
    case(f"tanh {s}", F.tanh, torch.tanh, normal(shape))
    case(f"abs {s}", lambda x: abs(x), torch.abs, away_from([0.0], shape))
    case(f"abs by name {s}", F.abs, torch.abs, away_from([0.0], shape))
    case(f"sigmoid {s}", F.sigmoid, torch.sigmoid, 3.0 * normal(shape))
    case(f"relu {s}", F.relu, torch.relu, away_from([0.0], shape))
    case(f"clip {s}", lambda x: F.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0), away_from([-1.0, 1.0], shape))
    for c in (2, 3, 0.5, -1.5, 1, 0):
        positive_only = c != int(c) or c < 0
        case(f"pow {c} {s}", lambda x, c=c: F.pow(x, c), lambda x, c=c: torch.pow(x, c),
             positive(shape) if positive_only else normal(shape))
    case(f"x ** 3 operator {s}", lambda x: x ** 3, lambda x: x ** 3, normal(shape))
case("pow, an array of exponents", lambda x: F.pow(x, np.array([2.0, 0.5, -1.0])),
     lambda x: torch.pow(x, t64([2.0, 0.5, -1.0])), positive(MATRIX))
case("sigmoid far out (both tails)", F.sigmoid, torch.sigmoid, np.array([-30.0, -8.0, 8.0, 30.0]))

# shapes
case("reshape", lambda x: F.reshape(x, (3, 2)), lambda x: torch.reshape(x, (3, 2)), normal(MATRIX))
case("reshape -1", lambda x: x.reshape(-1), lambda x: x.reshape(-1), normal((2, 3, 2)))
case("reshape number to (1, 1)", lambda x: F.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), normal(SCALAR))
case("transpose", F.transpose, lambda x: x.permute(1, 0), normal(MATRIX))
case("transpose reversed 3-d", lambda x: x.T, lambda x: x.permute(2, 1, 0), normal((2, 3, 4)))
case("transpose axes", lambda x: F.transpose(x, (1, 2, 0)), lambda x: x.permute(1, 2, 0), normal((2, 3, 4)))
case("transpose negative axes", lambda x: F.transpose(x, (-1, 0, 1)), lambda x: x.permute(-1, 0, 1), normal((2, 3, 4)))
case("broadcast_to", lambda x: F.broadcast_to(x, (4, 3)), lambda x: torch.broadcast_to(x, (4, 3)), normal((3,)))
case("broadcast_to middle", lambda x: F.broadcast_to(x, (2, 4, 3)), lambda x: torch.broadcast_to(x, (2, 4, 3)),
     normal((2, 1, 3)))
case("broadcast_to number", lambda x: F.broadcast_to(x, (2, 3)), lambda x: torch.broadcast_to(x, (2, 3)), normal(SCALAR))
case("sum_to", lambda x: F.sum_to(x, (1, 3)), lambda x: x.sum_to_size(1, 3), normal((4, 3)))
case("sum_to lead and middle", lambda x: F.sum_to(x, (2, 1)), lambda x: x.sum_to_size(2, 1), normal((4, 2, 3)))
case("sum_to a number", lambda x: F.sum_to(x, ()), lambda x: x.sum(), normal(MATRIX))

# reductions
for axis, keepdims in [(None, False), (None, True), (0, False), (1, True), (-1, False), ((0, 2), False), ((0, 2), True)]:
    dims = (0, 1, 2) if axis is None else axis
    s = f"axis={axis} keepdims={keepdims}"
    case(f"sum {s}", lambda x, a=axis, k=keepdims: F.sum(x, a, k), lambda x, d=dims, k=keepdims: torch.sum(x, d, keepdim=k),
         normal((2, 3, 4)))
    case(f"mean {s}", lambda x, a=axis, k=keepdims: F.mean(x, a, k), lambda x, d=dims, k=keepdims: torch.mean(x, d, keepdim=k),
         normal((2, 3, 4)))
    case(f"max {s}", lambda x, a=axis, k=keepdims: F.max(x, a, k), lambda x, d=dims, k=keepdims: torch.amax(x, d, keepdim=k),
         distinct((2, 3, 4)))
    case(f"min {s}", lambda x, a=axis, k=keepdims: F.min(x, a, k), lambda x, d=dims, k=keepdims: torch.amin(x, d, keepdim=k),
         distinct((2, 3, 4)))
case("sum method", lambda x: x.sum(axis=1), lambda x: x.sum(1), normal(MATRIX))
case("sum of a number", F.sum, lambda x: x, normal(SCALAR))
case("mean of a number", F.mean, lambda x: x, normal(SCALAR))
case("max of a number", F.max, lambda x: x, normal(SCALAR))

# indexing: GetItem by torch's own indexing; GetItemGrad (GetItem's backward, a scatter-add) as index_add of the
# positions numpy's indexing picks (numpy says where, torch does the arithmetic)
INDICES = [
    ("int", 1, lambda x: x[1]),
    ("slice", (slice(1, None), 0), lambda x: x[1:, 0]),
    ("reversed", slice(None, None, -1), lambda x: torch.flip(x, (0,))),
    ("fancy, repeated", np.array([0, 2, 0]), lambda x: x[torch.tensor([0, 2, 0])]),
    ("pairs", (np.array([0, 1, 2]), np.array([1, 0, 1])), lambda x: x[torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1])]),
    ("mask", np.array([[True, False], [False, True], [True, True]]),
     lambda x: x[torch.tensor([[True, False], [False, True], [True, True]])]),
    ("None and ellipsis", (None, Ellipsis, 1), lambda x: x[None, ..., 1]),
]
for label, index, torch_index in INDICES:
    case(f"getitem {label}", lambda x, i=index: F.getitem(x, i), torch_index, normal((3, 2)))
case("getitem operator", lambda x: x[1:, 0], lambda x: x[1:, 0], normal((3, 2)))


def scatter_add(index, in_shape):
    positions = torch.from_numpy(np.arange(int(np.prod(in_shape))).reshape(in_shape)[index].reshape(-1))

    def f(g):
        return torch.zeros(int(np.prod(in_shape)), dtype=torch.float64).index_add(0, positions, g.reshape(-1)).reshape(in_shape)

    return f


for label, index, _ in INDICES:
    out_shape = np.zeros((3, 2))[index].shape
    case(f"GetItemGrad {label}", lambda g, i=index: F.GetItemGrad(i, (3, 2))(g), scatter_add(index, (3, 2)), normal(out_shape))

# matmul with numpy's semantics: 1-D operands and broadcast batch axes
for sa, sb in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2))]:
    s = shapes_id(sa, sb)
    case(f"matmul {s}", F.matmul, torch.matmul, normal(sa), normal(sb))
case("matmul operator", lambda a, b: a @ b, lambda a, b: a @ b, normal((2, 3)), normal((3, 4)))

# softmax family
for axis in (-1, 0, 1):
    case(f"softmax axis={axis}", lambda x, a=axis: F.softmax(x, a), lambda x, a=axis: torch.softmax(x, a), 2.0 * normal((2, 3, 4)))
    case(f"log_softmax axis={axis}", lambda x, a=axis: F.log_softmax(x, a), lambda x, a=axis: torch.log_softmax(x, a),
         2.0 * normal((2, 3, 4)))
case("softmax large logits", F.softmax, lambda x: torch.softmax(x, -1), np.array([[800.0, 801.5, 799.0], [-3.0, 0.0, 2.0]]))
case("log_softmax large logits", F.log_softmax, lambda x: torch.log_softmax(x, -1),
     np.array([[800.0, 801.5, 799.0], [-3.0, 0.0, 2.0]]))


# ================================================================ jvp against torch.func.jvp


@pytest.mark.parametrize("name, engine_f, torch_f, values", CASES, ids=[c[0] for c in CASES])
def test_jvp_is_torchs(name, engine_f, torch_f, values):
    for _ in range(2):  # two random directions
        tangents = [normal(np.shape(v)) for v in values]
        value, tangent = engine.jvp(engine_f, values, tangents)
        expected_value, expected_tangent = tf.jvp(torch_f, tuple(t64(v) for v in values), tuple(t64(t) for t in tangents))
        assert np.shape(value) == tuple(expected_value.shape), name
        assert np.shape(tangent) == tuple(expected_tangent.shape), name
        np.testing.assert_allclose(value, expected_value.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"{name}: value")
        np.testing.assert_allclose(tangent, expected_tangent.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"{name}: tangent")


def classes_in_graph(engine_f, values):
    """The Function classes the engine records for ``engine_f`` on ``values``."""
    y = engine_f(*[Variable(v) for v in values])
    return {type(func) for func in engine.functions_of(y)}


def engine_function_classes():
    return [c for _, c in inspect.getmembers(F, inspect.isclass)
            if issubclass(c, Function) and c is not Function and c.__module__ == F.__name__]


def test_every_engine_function_class_has_a_torch_case():
    """A Function class added to engine.functions without a case above fails here, so it cannot be forgotten.
    The coverage is what the engine records when the cases run, not a list kept by hand."""
    covered = set().union(*(classes_in_graph(f, values) for _, f, _, values in CASES))
    classes = engine_function_classes()
    assert len(classes) >= 35
    concrete = [c for c in classes if not c.__name__.startswith("_")]
    missing = sorted(c.__name__ for c in concrete if c not in covered)
    assert not missing, f"no torch case for {missing}"
    # the private ones are shared bases (_Elementwise2, _Extreme): each must be covered through a subclass
    bases = [c for c in classes if c.__name__.startswith("_")]
    uncovered = sorted(b.__name__ for b in bases if not any(issubclass(c, b) for c in covered))
    assert not uncovered, f"no torch case reaches {uncovered}"


# ================================================================ jacobian (forward and reverse) against jacfwd / jacrev

E = SimpleNamespace(sin=F.sin, cos=F.cos, exp=F.exp, log=F.log, tanh=F.tanh, sqrt=F.sqrt, sigmoid=F.sigmoid,
                    sum=F.sum, mean=F.mean, matmul=F.matmul)
T = SimpleNamespace(sin=torch.sin, cos=torch.cos, exp=torch.exp, log=torch.log, tanh=torch.tanh, sqrt=torch.sqrt,
                    sigmoid=torch.sigmoid, sum=torch.sum, mean=torch.mean, matmul=torch.matmul)

W_WIDE = normal((7,))
W_TALL, C_TALL = normal((6,)), normal((6,))
X_NET, Y_NET = normal((4, 3)), normal((4, 2))


def wide(ns, v):  # R^7 -> R
    w = W_WIDE if ns is E else t64(W_WIDE)
    return ns.sum(ns.sin(v) * w) + ns.log(1.0 + ns.sum(v * v)) * ns.tanh(ns.sum(v))


def tall(ns, t):  # R -> R^6
    w, c = (W_TALL, C_TALL) if ns is E else (t64(W_TALL), t64(C_TALL))
    return ns.tanh(t * w + c) * ns.exp(-0.5 * t * t) + ns.sin(t) ** 2 * c


def net_outputs(ns, W1, b1, W2, b2):  # a two-layer network's (4, 2) outputs
    x = X_NET if ns is E else t64(X_NET)
    return ns.matmul(ns.tanh(ns.matmul(x, W1) + b1), W2) + b2


def net_loss(ns, W1, b1, W2, b2):  # its mean squared error: R^32 -> R
    y = Y_NET if ns is E else t64(Y_NET)
    return ns.mean((net_outputs(ns, W1, b1, W2, b2) - y) ** 2)


NET_PARAMS = [normal((3, 5)), normal((5,)), normal((5, 2)), normal((2,))]
JACOBIAN_CASES = [
    ("wide R^7 -> R", wide, [normal((7,))], "reverse"),
    ("tall R -> R^6", tall, [normal(())], "forward"),
    ("2-layer network loss", net_loss, NET_PARAMS, "reverse"),
    ("2-layer network outputs", net_outputs, NET_PARAMS, "reverse"),  # 8 outputs < 32 inputs
    ("2-layer network outputs, first layer only",
     lambda ns, W1, b1: net_outputs(ns, W1, b1, *[p if ns is E else t64(p) for p in NET_PARAMS[2:]]),
     NET_PARAMS[:2], "reverse"),  # 8 outputs < 20 inputs
    ("a tall map of a vector R^2 -> R^6", lambda ns, v: tall(ns, ns.sum(v * v)), [normal((2,))], "forward"),
]


@pytest.mark.parametrize("name, f, inputs, auto", JACOBIAN_CASES, ids=[c[0] for c in JACOBIAN_CASES])
def test_jacobian_both_modes_are_torchs_jacfwd_and_jacrev(name, f, inputs, auto):
    def engine_f(*xs):
        return f(E, *xs)

    def torch_f(*xs):
        return f(T, *xs)

    argnums = tuple(range(len(inputs)))
    tensors = [t64(x) for x in inputs]
    by_jacfwd = tf.jacfwd(torch_f, argnums=argnums)(*tensors)
    by_jacrev = tf.jacrev(torch_f, argnums=argnums)(*tensors)
    for a, b in zip(by_jacfwd, by_jacrev):  # torch agrees with itself first
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    scale = max(float(np.max(np.abs(b.numpy()))) for b in by_jacrev)
    for mode, expected in (("forward", by_jacfwd), ("reverse", by_jacrev)):
        blocks, info = engine.jacobian(engine_f, inputs, mode=mode, with_mode=True)
        assert info["mode"] == mode
        assert len(blocks) == len(inputs)
        for k, (got, want) in enumerate(zip(blocks, expected)):
            assert got.shape == tuple(want.shape), (name, mode, k)
            np.testing.assert_allclose(got, want.numpy(), rtol=RTOL, atol=ATOL * scale,
                                       err_msg=f"{name}: {mode} mode, block {k}")
    _, info = engine.jacobian(engine_f, inputs, with_mode=True)
    assert info["mode"] == auto


def test_jacobian_of_one_input_is_one_block_like_torchs():
    x = normal((7,))
    got = engine.jacobian(lambda v: wide(E, v), x, mode="forward")
    want = tf.jacfwd(lambda v: wide(T, v))(t64(x))
    assert got.shape == tuple(want.shape) == (7,)
    np.testing.assert_allclose(got, want.numpy(), rtol=RTOL, atol=ATOL)


# ================================================================ hessian against torch.func.hessian


def rosenbrock(ns, x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x ** 2) ** 2


def goldstein_price(ns, x, y):
    a = 1.0 + (x + y + 1.0) ** 2 * (19.0 - 14.0 * x + 3.0 * x ** 2 - 14.0 * y + 6.0 * x * y + 3.0 * y ** 2)
    b = 30.0 + (2.0 * x - 3.0 * y) ** 2 * (18.0 - 32.0 * x + 12.0 * x ** 2 + 48.0 * y - 36.0 * x * y + 27.0 * y ** 2)
    return a * b


def logistic_loss(ns, w, b, x, t):  # one example's cross-entropy; all four are inputs, so t's mixed partials count
    p = ns.sigmoid(w * x + b)
    return -(t * ns.log(p) + (1.0 - t) * ns.log(1.0 - p))


def mixture(ns, x, y, z):
    return ns.sin(x * y) * ns.exp(-z) + ns.tanh(x + y * z) ** 2 - ns.cos(z) / (2.0 + ns.sin(x))


def powers(ns, x, y, z, w):
    return x ** y + ns.sqrt(x * z + w ** 2) - z ** 3 / w + ns.exp(ns.sin(w) * y)


HESSIAN_CASES = [
    ("rosenbrock at (0, 2)", rosenbrock, (0.0, 2.0)),
    ("rosenbrock at (-1.2, 1)", rosenbrock, (-1.2, 1.0)),
    ("rosenbrock at its minimum (1, 1)", rosenbrock, (1.0, 1.0)),
    ("goldstein-price at its minimum (0, -1)", goldstein_price, (0.0, -1.0)),
    ("goldstein-price at (0.5, 0.25)", goldstein_price, (0.5, 0.25)),
    ("logistic loss", logistic_loss, (0.8, -0.3, 1.7, 1.0)),
    ("logistic loss, t = 0.3", logistic_loss, (-1.1, 0.4, 0.6, 0.3)),
    ("sin exp tanh cos", mixture, (0.3, -0.7, 1.2)),
    ("power sqrt cube", powers, (1.3, 0.7, 0.9, -1.1)),
]


@pytest.mark.parametrize("name, f, point", HESSIAN_CASES, ids=[c[0] for c in HESSIAN_CASES])
def test_hessian_is_torchs(name, f, point):
    n = len(point)
    nested = tf.hessian(lambda *xs: f(T, *xs), argnums=tuple(range(n)))(*[t64(p) for p in point])
    expected = np.array([[float(nested[i][j]) for j in range(n)] for i in range(n)])
    got = engine.hessian(lambda *xs: f(E, *xs), point)
    assert got.shape == (n, n)
    # atol: Goldstein–Price's entries reach 1e4 and more; a mixed partial that is 0 in exact arithmetic comes
    # out as rounding of terms of that size
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL * np.max(np.abs(expected)), err_msg=name)
