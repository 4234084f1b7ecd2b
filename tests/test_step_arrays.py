"""Tests for the --step view's text on arrays (issue 17): the step's values with their shapes, bounded,
and a click on an array variable giving its gradient as a matrix with its shape, the MatMul form and the
broadcast sum. The expected numbers are a 2-layer network's backward pass written out by hand in numpy
(the textbook's formulas), not the engine's."""
import numpy as np
import pytest

from adiff_magic.parser import parse
from adiff_magic.runner import run_recorded
from adiff_magic.stepper import GRID_ITEMS, bounded, grid, step_model

from reference import MLP  # noqa: E402  (the two-layer network, shared)


def by_hand() -> dict:
    """The MLP's forward and backward by the textbook's formulas: dy = 2(y - t)/n, dW2 = hᵀ dy,
    dh = dy W2ᵀ, dz = dh (1 - h²), dW1 = xᵀ dz, db1 = dz summed over the batch."""
    x = np.array([[0.5, -1.0]])
    W1 = np.array([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]])
    b1 = np.array([0.01, 0.02, 0.03])
    W2 = np.array([[0.7], [-0.8], [0.9]])
    h = np.tanh(x @ W1 + b1)
    y = h @ W2
    dy = 2 * (y - 1.0) / y.size
    dh = dy @ W2.T
    dz = dh * (1 - h ** 2)
    return {"h": h, "W1": W1, "W2": W2, "dW1": x.T @ dz, "db1": dz.sum(axis=0), "dW2": h.T @ dy}


def six(v: float) -> str:
    return f"{v:.6g}"


@pytest.fixture(scope="module")
def mlp():
    model = step_model(run_recorded(parse(MLP), {"np": np})[2])
    keys = {}
    for key, lines in model.paths.items():
        head = lines[0]
        keys[head.split(",")[0].split(" ")[0].removeprefix("dloss/d")] = key
    return model, keys


def test_the_matmul_step_shows_h_and_w2_with_shapes(mlp):
    model, _ = mlp
    hand = by_hand()
    lines = next(model.at(k)["lines"] for k in range(1, len(model.steps) + 1)
                 if "y.creator = MatMul" in model.at(k)["lines"][0])
    values = lines[-1]
    h = ", ".join(six(v) for v in hand["h"][0])
    assert values.startswith("values: ")
    assert f"h (1, 3) = [[{h}]]" in values, values
    assert "W2 (3, 1) = [[0.7], [-0.8], [0.9]]" in values
    assert "[…]" not in " ".join(lines)


def test_a_scalar_step_has_no_values_line():
    model = step_model(run_recorded(parse("x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"), {})[2])
    assert all(not line.startswith("values") for k in range(1, 4) for line in model.at(k)["lines"])


def test_bounded_cuts_each_axis_and_says_so():
    assert bounded(np.arange(10.0), 6) == "[0, 1, 2, 3, …]"
    assert bounded(np.arange(6.0).reshape(2, 3), 6) == "[[0, 1, 2], [3, 4, 5]]"
    assert bounded(np.ones((9, 9)), 6) == "[[1, 1, 1, 1, …], [1, 1, 1, 1, …], [1, 1, 1, 1, …], [1, 1, 1, 1, …], …]"
    assert bounded(np.arange(24.0).reshape(2, 3, 4), 6) == "[0, 1, 2, 3, 4, 5, 6, 7, …] (flattened)"
    assert bounded(np.float64(1 / 3), 3) == "0.333"
    huge = bounded(np.zeros((1000, 1000)), 6)
    assert len(huge) < 120 and huge.count("0") == 16


def test_grid_puts_a_row_a_line_and_cuts_past_its_items():
    assert grid(np.array([[1.0, 2.0], [3.0, 4.0]]), 6) == ["[[1, 2],", " [3, 4]]"]
    big = grid(np.arange(100.0).reshape(10, 10), 6)
    assert len(big) == GRID_ITEMS + 1 and big[-1] == " …]" and big[0].endswith(", …],")
    assert grid(np.array([1.0, 2.0]), 6) == ["[1, 2]"]


def test_a_click_on_w1_gives_its_gradient_as_a_matrix_with_the_matmul_form(mlp):
    model, keys = mlp
    hand = by_hand()
    lines = model.paths[keys["W1"]]
    rows = [", ".join(six(v) for v in row) for row in hand["dW1"]]
    assert lines[:3] == ["dloss/dW1, shape (2, 3):", f"[[{rows[0]}],", f" [{rows[1]}]]"]
    text = "\n".join(lines)
    assert "dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3), G = dloss/d(matmul(x, W1))" in text
    assert "no chain-rule sentence" not in text


def test_a_click_on_w2_and_b1_gives_the_matmul_form_and_the_broadcast_sum(mlp):
    model, keys = mlp
    hand = by_hand()
    w2 = "\n".join(model.paths[keys["W2"]])
    assert "dloss/dW2, shape (3, 1):" in w2 and "dloss/dW2 = hᵀ @ G: (3, 1) @ (1, 1) → (3, 1), G = dloss/dy" in w2
    assert all(six(v) in w2 for v in hand["dW2"].flat)
    b1 = "\n".join(model.paths[keys["b1"]])
    assert f"[{', '.join(six(v) for v in hand['db1'])}]" in b1
    assert "b1 (3,) was broadcast to (1, 3); its gradient is summed over axis 0 back to (3,)" in b1


def test_the_seed_keeps_its_chain_rule_sentence():
    model = step_model(run_recorded(parse("x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"), {})[2])
    assert ["dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1 = 3.29744"] in model.paths.values()


def test_an_array_gradient_on_a_click_is_bounded():
    cell = "W = np.ones((40, 50))\nv = np.ones((50, 1))\nloss = sum(matmul(W, v) ** 2)\n"
    model = step_model(run_recorded(parse(cell), {"np": np})[2])
    longest = max(model.paths.values(), key=lambda lines: len("\n".join(lines)))
    assert len(longest) <= GRID_ITEMS + 8 and len("\n".join(longest)) < 1500
    assert any(line.startswith("dloss/dW, shape (40, 50):") for line in longest)


def test_a_click_on_w1_also_gives_its_matrix_chain(mlp):
    model, keys = mlp
    w1 = model.paths[keys["W1"]]
    start = w1.index("in matrix form, through the named variables:")
    assert w1[start + 1:start + 4] == ["  dloss/dW1 = xᵀ @ (dloss/dh ⊙ (1 - h²)), (2, 3)",
                                       "  dloss/dh = dloss/dy @ W2ᵀ, (1, 3)", "  dloss/dy = 2·(y - t), (1, 1)"]
