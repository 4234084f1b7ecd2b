"""What a cell means when %%grad runs it (adiff_magic.execute): which names become inputs, how the
statement forms bind them, Python's max/min/sum/pow, values tested in `if`, and a clean
configuration. Expected numbers are derived by hand in the comments."""
import math
import re

import numpy as np
import pytest
from IPython.core.error import UsageError

import engine
from engine import Config, Variable


def values(result, *names):
    return [float(result.values[n]) for n in names]


def grads(result, *names):
    return [float(result.grads[n]) for n in names]


# ================================================================ every statement form binds inputs


@pytest.mark.parametrize("cell, expected", [
    # y = a·b: dy/da = b = 2, dy/db = a = 0.5
    ("a, b = 0.5, 2.0\ny = a * b\n", {"a": 2.0, "b": 0.5}),
    ("[a, b] = [0.5, 2.0]\ny = a * b\n", {"a": 2.0, "b": 0.5}),
    ("a, b = np.array([0.5, 2.0])\ny = a * b\n", {"a": 2.0, "b": 0.5}),
    # y = x²: 2x = 1
    ("x: float = 0.5\ny = x * x\n", {"x": 1.0}),
    # y = 3x: 3
    ("y = (x := 0.5) * 3\n", {"x": 3.0}),
    # chained: two inputs, each 0.5; y = x·w: dy/dx = w, dy/dw = x
    ("x = w = 0.5\ny = x * w\n", {"x": 0.5, "w": 0.5}),
])
def test_every_assignment_form_makes_inputs_and_rows(ip, grad, cell, expected):
    result = grad(cell)
    assert {row.name for row in result.rows if row.is_input} == set(expected)
    for name, value in expected.items():
        assert float(result.grads[name]) == value
        assert float(ip.user_ns[name].grad) == value


def test_augmented_assignment_of_the_target_shows_its_final_value(ip, grad):
    result = grad("x = 0.5\ny = square(x)\ny += 1\n")
    # y = x² + 1 = 1.25; dy/dx = 2x = 1
    assert values(result, "y") == [1.25] and float(ip.user_ns["y"].data) == 1.25
    assert grads(result, "x") == [1.0]
    assert [row.expression for row in result.rows if row.name == "y"] == ["y += 1"]


def test_augmented_assignment_of_an_input_names_both_bindings(grad):
    result = grad("x = 0.5\ny = square(x)\nx += 1\nz = x * y\n")
    # z = (x₀ + 1)·x₀²: dz/dx₀ = x₀² + 2x₀(x₀ + 1) = 0.25 + 1.5 = 1.75; dz/dx = y = 0.25; dz/dy = x = 1.5
    assert grads(result, "x#1", "x", "y") == [1.75, 0.25, 1.5]
    add = next(step for step in result.steps if step.function == "Add")
    assert add.output == "x" and [flow.input for flow in add.flows] == ["x#1"]
    assert all(step.output and "()" not in step.output for step in result.steps)


def test_tuple_unpacking_of_results_names_each(grad):
    result = grad("x = 0.5\ns, c = sin(x), cos(x)\ny = s * c\n")
    # y = sin x cos x = sin(2x)/2: dy/dx = cos 2x = cos 1
    assert grads(result, "x") == pytest.approx([math.cos(1.0)], rel=1e-15)
    assert {"s", "c"} <= set(result.grads)


# ================================================================ integers that count are not inputs


def test_an_integer_count_stays_an_integer(ip, grad):
    result = grad("x = 0.5\nsteps = 4\ny = x\nfor i in range(steps):\n    y = y * x\n")
    # y = x⁵: 5x⁴ = 5/16
    assert grads(result, "x") == [5 / 16]
    assert ip.user_ns["steps"] == 4 and type(ip.user_ns["steps"]) is int
    assert "steps" not in result.values


def test_softmax_cross_entropy_with_integer_labels(ip, grad):
    cell = ("z = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])\nlabels = np.array([2, 0])\n"
            "lp = log_softmax(z)\nloss = -sum(lp[np.arange(2), labels])\n")
    result = grad(cell)
    z = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.zeros_like(z)
    onehot[[0, 1], [2, 0]] = 1
    # d(−Σ log softmax(z)[label])/dz = softmax(z) − onehot(label)
    np.testing.assert_allclose(result.grads["z"], softmax - onehot, rtol=1e-12)
    assert "labels" not in result.values and ip.user_ns["labels"].dtype.kind == "i"


@pytest.mark.parametrize("cell", [
    "x = np.array([1.0, 2.0, 3.0])\nk = 1\ny = sum(x[k:] * x[k:])\n",
    "x = np.array([1.0, 2.0, 3.0, 4.0])\nn = 2\ny = sum(x.reshape(n, 2) * 2.0)\n",
    "x = np.array([[1.0, 2.0], [3.0, 4.0]])\nax = 0\ny = sum(sum(x, axis=ax) * np.array([1.0, 10.0]))\n",
])
def test_indices_shapes_and_axes_keep_their_integers(grad, cell):
    result = grad(cell)
    assert all(row.name not in ("k", "n", "ax") for row in result.rows)


def test_an_integer_used_in_arithmetic_is_an_input(grad):
    result = grad("x = 2\ny = x ** 3\n")
    assert grads(result, "x") == [12.0]  # 3x² = 12


# ================================================================ Python's max, min, sum and pow


@pytest.mark.parametrize("cell, y, dx", [
    ("x = -0.5\ny = max(x, 0)\n", 0.0, 0.0),      # max(−0.5, 0) = 0, flat in x
    ("x = 0.5\ny = max(x, 0)\n", 0.5, 1.0),
    ("x = 0.5\ny = min(x, 0)\n", 0.0, 0.0),
    ("x = 0.5\ny = max(0, x, 2 * x)\n", 1.0, 2.0),  # 2x wins: slope 2
    ("x = 0.5\ny = max([x, 3 * x, -x])\n", 1.5, 3.0),
    ("x = np.array([1.0, -2.0])\ny = max(x)\n", 1.0, None),  # one operand: the reduction
    ("x = 0.5\ny = sum([x, x * x, 1.0])\n", 1.75, 2.0),  # x + x² + 1: 1 + 2x
    ("x = 0.5\ny = sum(x * k for k in range(4))\n", 3.0, 6.0),  # 0+1+2+3 = 6x
    ("x = 0.5\nw = 3.0\ny = pow(x, w)\n", 0.125, 0.75),  # 3x² = 0.75
    ("x = 0.5\ny = pow(x, 2)\n", 0.25, 1.0),
])
def test_max_min_sum_pow_mean_what_python_means(grad, cell, y, dx):
    result = grad(cell)
    assert float(result.values["y"]) == y
    if dx is not None:
        assert float(result.grads["x"]) == dx


def test_max_with_an_axis_keyword_is_the_reduction(grad):
    result = grad("x = np.array([[1.0, 5.0], [3.0, 2.0]])\ny = sum(max(x, axis=0))\n")
    assert result.grads["x"].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_plain_numbers_keep_pythons_max(ip, grad):
    grad("x = 0.5\nn = max(2, 3)\ny = x * n\n")  # n = 3, an input like any number
    assert float(ip.user_ns["n"].data) == 3.0


# ================================================================ control flow on values


@pytest.mark.parametrize("x, dx", [(0.5, 2.0), (-0.5, -1.0)])
def test_if_on_a_value_takes_the_branch_the_value_says(grad, x, dx):
    result = grad(f"x = {x}\nif x > 0:\n    y = x * 2\nelse:\n    y = -x\n")
    assert float(result.grads["x"]) == dx


def test_while_on_a_value(grad):
    result = grad("x = 3.0\ny = x\nwhile y > 0.5:\n    y = y * 0.5\n")
    # 3 → 1.5 → 0.75 → 0.375: y = x/8
    assert float(result.values["y"]) == 0.375 and float(result.grads["x"]) == 0.125


def test_branches_binding_different_names_target_the_one_that_ran(grad):
    result = grad("x = -0.5\nif x > 0:\n    up = x * 2\nelse:\n    down = x * x\n")
    assert result.target == "down" and float(result.grads["x"]) == -1.0  # 2x


def test_float_of_a_variable_is_a_plain_number_and_the_output_says_so(grad):
    result = grad("x = 0.5\nn = float(x)\ny = x * n\n")
    # n = 0.5 is a new input (a number); y = x·n: dy/dx = n = 0.5, not 2x
    assert float(result.grads["x"]) == 0.5
    assert any(re.search(r"\bline 2\b", note) and "float()" in note for note in result.notes)


def test_the_float_note_names_several_lines_in_the_plural(grad):
    result = grad("x = 0.5\nn = float(x)\nm = int(x * 4)\ny = x * n * m\n")
    assert "lines 2, 3 turn a Variable into a plain number" in " ".join(result.notes), result.notes


# ================================================================ a clean configuration each cell


def test_disabling_backprop_in_one_cell_does_not_break_the_next(ip, grad):
    ip.run_cell("import engine")
    with pytest.raises(UsageError):
        grad("engine.Config.enable_backprop = False\nx = 0.5\ny = square(x)\n")
    assert Config.enable_backprop is True
    result = grad("x = 0.5\ny = square(x)\n")
    assert float(result.grads["x"]) == 1.0


def test_the_notebooks_configuration_is_restored(grad):
    Config.enable_backprop = False  # the notebook switched recording off
    try:
        result = grad("x = 0.5\ny = square(x)\n")
        assert float(result.grads["x"]) == 1.0  # the cell ran with the default
        assert Config.enable_backprop is False
    finally:
        Config.enable_backprop = True


# ================================================================ the cell's side effects happen once


@pytest.mark.parametrize("line", ["", "--check", "--plot", "--order 3", "--check --order 2 --graph"])
def test_the_cells_statements_run_exactly_once(ip, grad, line):
    ip.user_ns["log_"] = []
    grad("x = 0.5\nlog_.append(1)\ny = sin(x)\n", line)
    assert ip.user_ns["log_"] == [1]


def test_a_variable_from_the_notebook_is_not_mutated(ip, grad):
    v = Variable(2.0)
    ip.user_ns["v"] = v
    grad("y = v * v\n", "--order 2 --check")
    assert v.grad is None and float(v.data) == 2.0


def test_a_backward_the_cell_runs_itself_leaves_no_gradient_in_the_table(grad):
    cell = ("x = 0.5\nlr = 0.1\nfor step in range(2):\n    y = square(x - 2)\n    y.backward()\n"
            "    x = Variable(x.data - lr.data * x.grad)\nloss = square(x - 2)\n")
    result = grad(cell)
    # x: 0.5 → 0.8 → 1.04 (x − 0.1·2(x − 2)); loss = (x − 2)² depends on the last x only: 2(1.04 − 2)
    assert float(result.values["x"]) == pytest.approx(1.04, rel=1e-15)
    assert float(result.grads["x"]) == pytest.approx(-1.92, rel=1e-14)
    assert set(result.grads) == {"x", "loss"}  # x#1, x#2, lr and y: no path to loss


def test_a_none_grad_in_a_descent_loop_gets_a_hint(grad):
    cell = "x = 0.5\nfor step in range(2):\n    y = square(x - 2)\n    y.backward()\n    x = x - 0.1 * x.grad\n"
    with pytest.raises(UsageError, match=r"^line 5: a \.grad used here is None.*x = Variable\(x\.data"):
        grad(cell)


def test_one_source_text_making_several_nodes_tells_them_apart(grad):
    result = grad("x = 2.0\na = x**2\ny = a**2 + a**2\n")
    add = result.steps[0]
    assert [flow.input for flow in add.flows] == ["a**2 [1]", "a**2 [2]"]
    assert sorted(step.output for step in result.steps if step.function == "Pow" and step.output != "a") == \
        ["a**2 [1]", "a**2 [2]"]
    first, second = result.paths["x"].paths
    assert first[0].input == "a**2 [1]" and second[0].input == "a**2 [2]"


def test_a_loops_nodes_are_numbered_in_the_order_the_loop_made_them(grad):
    result = grad("x = 0.5\ny = x\nfor k in range(3):\n    y = y * sin(y)\n")
    sines = [step.output for step in result.steps if step.function == "Sin"]
    assert sorted(sines) == ["sin(y) [1]", "sin(y) [2]", "sin(y) [3]"]
    assert sines[0] == "sin(y) [3]"  # backward meets the last pass first


DESCENT_CELLS = [  # DeZero step 28, as the book writes it (rosenbrock), and a plain assignment to .data
    ("x0 = Variable(np.array(0.0))\nx1 = Variable(np.array(2.0))\nlr = 0.001\nfor i in range(50):\n"
     "    y = 100 * (x1 - x0 ** 2) ** 2 + (x0 - 1) ** 2\n    x0.cleargrad()\n    x1.cleargrad()\n"
     "    y.backward()\n    x0.data -= lr * x0.grad\n    x1.data -= lr * x1.grad\n", ("x0", "x1"), "9, 10"),
    ("w = Variable(np.array([1.0, -2.0]))\nlr = 0.1\nfor i in range(5):\n    loss = sum(w * w)\n"
     "    w.cleargrad()\n    loss.backward()\n    w.data = w.data - lr * w.grad\n", ("w",), "7"),
]


@pytest.mark.parametrize("cell, names, lines", DESCENT_CELLS)
def test_gradient_descent_as_the_book_writes_it_runs_in_the_cell(ip, grad, cell, names, lines):
    # issue 15: `x0.data -= lr * x0.grad` failed, lr being an input Variable; the plain engine is the oracle
    plain: dict = {"np": np, "Variable": Variable, "sum": engine.functions.sum}
    exec(cell, plain)
    result = grad(cell)
    for name in names:
        assert isinstance(ip.user_ns[name], Variable)
        np.testing.assert_array_equal(ip.user_ns[name].data, plain[name].data)
        np.testing.assert_array_equal(result.values[name], plain[name].data)
    assert any(note.startswith(f"line{'s' if ',' in lines else ''} {lines} give") for note in result.notes)
