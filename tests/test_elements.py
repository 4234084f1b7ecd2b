"""The chain rule for one element (--wrt "W1[0,1]"): its paths through the elements it touches, each a
product of partial derivatives of the cell's named lines. Checked against the same cells written in
plain numpy and differentiated by central differences (the sum of the written paths), and against
the partials derived by hand for the two-layer network."""
import numpy as np
import pytest

from adiff_magic.elements import MAX_ELEMENTS, element_name, parse_element
from adiff_magic.parser import parse
from adiff_magic.render import to_html, to_text
from adiff_magic.runner import Options, run

from reference import MLP  # noqa: E402  (the two-layer network, shared)


def mlp_numpy(x, W1, b1, W2, t):
    return np.mean((np.tanh(x @ W1 + b1) @ W2 - t) ** 2)


BROADCAST = """a = np.array([[1.0], [2.0]])
b = np.array([0.5, -1.0, 2.0])
c = a * b
d = c / (a + 3.0)
loss = sum(d ** 2)
"""


def broadcast_numpy(a, b):
    return np.sum((a * b / (a + 3.0)) ** 2)


LOGISTIC = """X = np.array([[0.5, 1.0], [-1.0, 2.0], [1.5, -0.5]])
w = np.array([[0.3], [-0.2]])
b = np.array([0.1])
t = np.array([[1.0], [0.0], [1.0]])
p = sigmoid(matmul(X, w) + b)
loss = -mean(t * log(p) + (1 - t) * log(1 - p))
"""


def logistic_numpy(X, w, b, t):
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


CASES = [(MLP, mlp_numpy, ["x", "W1", "b1", "W2", "t"]), (BROADCAST, broadcast_numpy, ["a", "b"]),
         (LOGISTIC, logistic_numpy, ["X", "w", "b", "t"])]


def values_of(cell):
    scope = {"np": np}
    exec(cell.replace("tanh(", "np.tanh(").replace("matmul(", "np.matmul("), {"np": np}, scope)
    return scope


def central(f, values, names, name, index, h=1e-6):
    args = [np.array(values[n], dtype=float) for n in names]
    k = names.index(name)
    up, down = [a.copy() for a in args], [a.copy() for a in args]
    up[k][index] += h
    down[k][index] -= h
    return (f(*up) - f(*down)) / (2 * h)


def elements_of(cell, wrt):
    return run(parse(cell), {"np": np}, Options(wrt=tuple(wrt)))[0]


@pytest.mark.parametrize("case", range(len(CASES)), ids=["mlp", "broadcast", "logistic"])
def test_the_written_paths_of_every_element_sum_to_central_differences(case):
    cell, f, names = CASES[case]
    values = {n: v for n, v in run(parse(cell), {"np": np})[0].values.items()}
    wanted = [element_name(n, tuple(int(i) for i in idx)) for n in names for idx in np.ndindex(np.shape(values[n]))]
    result = elements_of(cell, wanted)
    assert [rule.input for rule in result.elements] == wanted
    for rule in result.elements:
        name, index = parse_element(rule.input)
        expected = central(f, values, names, name, index)
        assert rule.count >= 1 and not rule.note
        written = sum(float(np.prod([factor.value for factor in path])) for path in rule.paths)
        assert len(rule.paths) == min(rule.count, 4)
        if rule.count <= 4:  # every path written: their sum is the gradient
            assert written == pytest.approx(expected, rel=1e-6, abs=1e-8), rule.input
        assert rule.total == pytest.approx(expected, rel=1e-6, abs=1e-8), rule.input


def test_the_networks_partials_are_the_ones_derived_by_hand():
    result = elements_of(MLP, ["W1[0,1]", "x[0,1]"])
    w1, x1 = result.elements
    x, W1, b1, W2, t = (np.array(v) for v in ([[0.5, -1.0]], [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]],
                                             [0.01, 0.02, 0.03], [[0.7], [-0.8], [0.9]], [[1.0]]))
    h = np.tanh(x @ W1 + b1)
    y = h @ W2
    # loss = mean((y - t)²) over one element: ∂loss/∂y = 2(y - t); y = h @ W2: ∂y[0,0]/∂h[0,k] = W2[k,0];
    # h = tanh(x @ W1 + b1): ∂h[0,k]/∂W1[j,k] = x[0,j](1 - h[0,k]²), ∂h[0,k]/∂x[0,j] = W1[j,k](1 - h[0,k]²)
    (path,) = w1.paths
    assert [(f.output, f.input) for f in path] == [("loss", "y[0,0]"), ("y[0,0]", "h[0,1]"), ("h[0,1]", "W1[0,1]")]
    assert [f.value for f in path] == pytest.approx([2 * (y[0, 0] - 1.0), W2[1, 0], x[0, 0] * (1 - h[0, 1] ** 2)])
    assert x1.count == 3  # x[0,1] reaches loss through h[0,0], h[0,1] and h[0,2]
    for k, path in enumerate(x1.paths):
        assert [f.value for f in path] == pytest.approx([2 * (y[0, 0] - 1.0), W2[k, 0], W1[1, k] * (1 - h[0, k] ** 2)])


def test_text_and_html_write_the_same_sentence():
    result = elements_of(MLP, ["W1[0,1]"])
    text, page = to_text(result, width=100), to_html(result)
    sentence = "dloss/dW1[0,1] = ∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,1] · ∂h[0,1]/∂W1[0,1]"
    numbers = "= (-4.45071) × (-0.8) × 0.348129 = 1.23954"
    assert sentence in text and numbers in text
    assert sentence in page.replace("&#x27;", "'") and numbers.lstrip("= ") in page


def test_a_large_array_is_not_walked_element_by_element_and_says_so():
    cell = f"w = np.linspace(-1.0, 1.0, {MAX_ELEMENTS + 44})\ns = sin(w) * w\nloss = sum(s)\n"
    result = elements_of(cell, ["w[3]"])
    (rule,) = result.elements
    assert rule.note and "300 elements" in rule.note and not rule.paths
    w = np.linspace(-1.0, 1.0, MAX_ELEMENTS + 44)
    assert rule.total == pytest.approx(np.cos(w[3]) * w[3] + np.sin(w[3]))
    assert "300 elements" in to_text(result)


@pytest.mark.parametrize("wrt, message", [("W1[2,0]", "shape is (2, 3)"), ("W1[0]", "shape is (2, 3)"),
                                          ("q[0]", "not an input")])
def test_an_element_that_is_not_there_is_one_clear_error(ip, wrt, message):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError) as error:
        ip.run_cell_magic("grad", f'--wrt "{wrt}"', MLP)
    assert message in str(error.value)
    assert "loss" not in ip.user_ns  # a failing cell leaves the namespace as it was


def test_the_magic_takes_elements_and_names_together(ip):
    result = ip.run_cell_magic("grad", '--wrt "W1[0,1], b1"', MLP)
    assert [rule.input for rule in result.elements] == ["W1[0,1]"]
    assert {row.name for row in result.rows if row.is_input} == {"W1", "b1"}


def test_an_element_whose_partials_are_all_zero_says_so_rather_than_counting_paths():
    result = elements_of("w = np.array([1.0, -2.0])\nz = w * 0.0\nloss = sum(z + 1.0)\n", ["w[1]"])
    (rule,) = result.elements
    assert rule.count == 0 and rule.total == 0.0  # ∂z/∂w = 0 by hand
    text = to_text(result)
    assert "dloss/dw[1] = 0: no path of nonzero partial derivatives leads from it to loss" in text
    assert "too many" not in text
