"""Property tests: random expression graphs, differentiated by the engine and by central differences.

An expression is a small program (a list of nodes) interpreted twice: once with engine functions
on Variables and once with plain numpy on arrays. Operands are drawn from all earlier nodes, so
intermediate values are shared (fan-out > 1) and leaves of shape (), (3,) and (2, 3) broadcast
against each other. Domains are kept safe by construction (log(1 + x²), a / (1 + b²), ...) and
overflow is filtered with ``assume``.
"""
import numpy as np
from reference import EPS, NP, assert_grads_close, central_differences, safe
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

import engine as E
from engine import Variable


def _same(shape):
    return shape


# name -> (expression in namespace m, applicable to input shape, output shape)
UNARY = {
    "sin": (lambda m, x: m.sin(x), None, _same),
    "cos": (lambda m, x: m.cos(x), None, _same),
    "tanh": (lambda m, x: m.tanh(x), None, _same),
    "sigmoid": (lambda m, x: m.sigmoid(x), None, _same),
    "exp": (lambda m, x: m.exp(x), None, _same),
    "neg": (lambda m, x: -x, None, _same),
    "square": (lambda m, x: m.square(x), None, _same),
    "cube": (lambda m, x: x ** 3, None, _same),
    "log1p_sq": (lambda m, x: m.log(1 + x * x), None, _same),
    "sqrt1p_sq": (lambda m, x: m.sqrt(1 + x * x), None, _same),
    "pow1.5": (lambda m, x: (1 + x * x) ** 1.5, None, _same),
    "recip": (lambda m, x: 1.0 / (1 + x * x), None, _same),
    "affine": (lambda m, x: 0.5 * x - 1.5, None, _same),
    "softmax": (lambda m, x: m.softmax(x), lambda s: len(s) >= 1, _same),
    "log_softmax": (lambda m, x: m.log_softmax(x), lambda s: len(s) >= 1, _same),
    "sum_all": (lambda m, x: m.sum(x), None, lambda s: ()),
    "sum0": (lambda m, x: m.sum(x, 0), lambda s: len(s) == 2, lambda s: s[1:]),
    "mean_last_keep": (lambda m, x: m.mean(x, -1, True), lambda s: len(s) >= 1, lambda s: s[:-1] + (1,)),
    "index0": (lambda m, x: x[0], lambda s: len(s) >= 1, lambda s: s[1:]),
    "bcast23": (lambda m, x: m.broadcast_to(x, (2, 3)), None, lambda s: (2, 3)),
    "tan_bounded": (lambda m, x: m.tan(0.5 * m.tanh(x)), None, _same),  # |argument| < 0.5: far from the poles
    # transposed, then read back in the original shape: the elements move, the shape does not
    "transpose_reshape": (lambda m, x: m.reshape(m.transpose(x), np.shape(x)), lambda s: len(s) == 2, _same),
    "sum_to_row": (lambda m, x: m.sum_to(x, (1, 3)), lambda s: s == (2, 3), lambda s: (1, 3)),
}
SCALAR_UNARY = [name for name, (_, ok, out) in UNARY.items() if ok is None and out is _same]

BINARY = {
    "add": (lambda m, a, b: a + b, None),
    "sub": (lambda m, a, b: a - b, None),
    "mul": (lambda m, a, b: a * b, None),
    "safe_div": (lambda m, a, b: a / (1 + b * b), None),
    "safe_rdiv": (lambda m, a, b: (1 + b * b) / (2 + m.sin(a)), None),
    "power": (lambda m, a, b: (1 + a * a) ** m.tanh(b), None),
    "matvec": (lambda m, a, b: m.reshape(m.matmul(a, b), (2, 1)), lambda sa, sb: sa == (2, 3) and sb == (3,)),
}
SCALAR_BINARY = [name for name, (_, ok) in BINARY.items() if ok is None]


@st.composite
def programs(draw, leaf_shapes, unary=tuple(UNARY), binary=tuple(BINARY), max_ops=8):
    """A list of ("unary", name, i) / ("binary", name, i, j) nodes after len(leaf_shapes) leaves."""
    shapes = list(leaf_shapes)
    nodes = []
    for _ in range(draw(st.integers(1, max_ops))):
        if draw(st.booleans()):
            i = draw(st.integers(0, len(shapes) - 1))
            names = [n for n in unary if UNARY[n][1] is None or UNARY[n][1](shapes[i])]
            name = draw(st.sampled_from(names))
            nodes.append(("unary", name, i))
            shapes.append(UNARY[name][2](shapes[i]))
        else:
            i = draw(st.integers(0, len(shapes) - 1))
            j = draw(st.integers(0, len(shapes) - 1))
            names = [n for n in binary if BINARY[n][1] is None or BINARY[n][1](shapes[i], shapes[j])]
            name = draw(st.sampled_from(names))
            nodes.append(("binary", name, i, j))
            shapes.append((2, 1) if name == "matvec" else np.broadcast_shapes(shapes[i], shapes[j]))
    return nodes


def run(program, m, leaves):
    """Interpret ``program`` in namespace ``m``; return (scalar output, every value)."""
    values = list(leaves)
    used = set()
    for node in program:
        if node[0] == "unary":
            values.append(UNARY[node[1]][0](m, values[node[2]]))
            used.add(node[2])
        else:
            values.append(BINARY[node[1]][0](m, values[node[2]], values[node[3]]))
            used.update(node[2:])
    sinks = [k for k in range(len(leaves), len(values)) if k not in used]
    out = m.sum(values[sinks[0]])
    for k in sinks[1:]:
        out = out + m.sum(values[k])
    return out, values


def numpy_value(program, leaves):
    with np.errstate(all="ignore"):
        out, values = run(program, NP, leaves)
    return float(out), values


def grad_of(v):
    if v.grad is None:
        return np.zeros_like(v.data)
    return v.grad.data if isinstance(v.grad, Variable) else v.grad


LEAF_SHAPES = [(), (3,), (2, 3)]
elements = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


def leaves_for(shapes):
    return st.tuples(*[hnp.arrays(np.float64, s, elements=elements) for s in shapes])


@given(program=programs(LEAF_SHAPES), leaves=leaves_for(LEAF_SHAPES))
def test_random_graph_gradients_match_central_differences(program, leaves):
    expected_out, values = numpy_value(program, leaves)
    scale = safe(values + [expected_out])
    assume(scale is not None)

    xs = [Variable(a.copy()) for a in leaves]
    with np.errstate(all="ignore"):
        out, _ = run(program, E, xs)
        assert isinstance(out, Variable) and out.shape == ()
        np.testing.assert_allclose(out.data, expected_out, rtol=1e-9, atol=1e-9 * (1 + scale))
        out.backward()
    actual = [grad_of(x) for x in xs]

    def perturbed(arrays):
        value, vals = numpy_value(program, arrays)
        return value

    expected = central_differences(lambda *a: perturbed(list(a)), *leaves, eps=EPS)
    assert_grads_close(actual, expected, scale, f"program {program}")


@given(
    program=programs([(), ()], unary=tuple(SCALAR_UNARY), binary=tuple(SCALAR_BINARY), max_ops=6),
    leaves=leaves_for([(), ()]),
)
def test_random_scalar_graph_second_derivatives(program, leaves):
    """Hessian rows from create_graph=True against central differences of first-order backprop."""
    expected_out, values = numpy_value(program, leaves)
    scale = safe(values + [expected_out])
    assume(scale is not None)

    def first_order(arrays):
        xs = [Variable(a.copy()) for a in arrays]
        with np.errstate(all="ignore"):
            out, _ = run(program, E, xs)
            out.backward()
        return [grad_of(x) for x in xs]

    # the first derivatives must be accurate for their differences to be a fair oracle
    assert_grads_close(first_order(leaves), central_differences(lambda *a: numpy_value(program, list(a))[0], *leaves, eps=EPS),
                       scale, f"first order of {program}")
    for k in range(len(leaves)):
        xs = [Variable(a.copy()) for a in leaves]
        with np.errstate(all="ignore"):
            out, _ = run(program, E, xs)
            out.backward(create_graph=True)
            gk = xs[k].grad
            if not isinstance(gk, Variable):  # leaf k does not influence the output
                assert gk is None
                continue
            for x in xs:
                x.cleargrad()
            gk.backward()
        actual = [grad_of(x) for x in xs]
        expected = central_differences(lambda *a: first_order(list(a))[k], *leaves, eps=EPS)
        hscale = scale + max(float(np.max(np.abs(e))) for e in expected + first_order(leaves))
        assert_grads_close(actual, expected, hscale, f"d/dx of gradient {k} of {program}")
