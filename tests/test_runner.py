"""Tests for adiff_magic.runner: Program + namespace -> GradResult, the namespace only read."""
import math
import re

import numpy as np
import pytest

from adiff_magic.errors import CellError
from adiff_magic.parser import parse
from adiff_magic.runner import Options, run
from engine import Function, Variable


def run_cell(source: str, namespace=None, **options):
    return run(parse(source), namespace if namespace is not None else {}, Options(**options))


def test_seed_values_and_gradients_by_name(seed_cell):
    result, scope = run_cell(seed_cell)
    assert result.target == "y"
    assert [row.name for row in result.rows] == ["x", "a", "b", "y"]
    expected = {"x": 3.297442541400256, "a": 3.297442541400256, "b": 2.568050833375483, "y": 1.0}
    for name, grad in expected.items():
        assert math.isclose(float(result.grads[name]), grad, rel_tol=1e-12)
    assert math.isclose(float(result.values["y"]), 1.648721270700128, rel_tol=1e-12)
    assert isinstance(scope["x"], Variable) and scope["x"].name == "x"
    assert [row.is_input for row in result.rows] == [True, False, False, False]


def test_the_namespace_is_read_not_written():
    namespace = {"x0": 2.0}
    result, scope = run_cell("y = x0 * x0\n", namespace)
    assert namespace == {"x0": 2.0}
    assert float(result.grads["x0"]) == 4.0 and result.rows[0].expression == "notebook"


def test_a_variable_from_an_earlier_cell_is_a_fresh_input():
    old = Variable(3.0)
    old_y = old * old
    old_y.backward()
    result, _ = run_cell("y = old * 2\n", {"old": old})
    assert float(result.grads["old"]) == 2.0 and float(old.grad) == 6.0  # the earlier graph is untouched


def test_an_alias_is_not_a_second_input():
    result, _ = run_cell("x = 0.5\ny = x\nz = y * y\n")
    assert [(row.name, row.is_input) for row in result.rows] == [("x", True), ("y", False), ("z", False)]
    assert float(result.grads["x"]) == 1.0


def test_a_name_rebound_in_a_loop_is_labelled_by_its_binding():
    result, _ = run_cell("x = 2.0\ny = x\nfor k in range(3):\n    y = y * x\n")
    assert [row.name for row in result.rows] == ["x", "y"]
    assert float(result.grads["x"]) == 4 * 2.0 ** 3  # y = x⁴
    assert [step.output for step in result.steps] == ["y", "y#3", "y#2"]


def test_wrt_keeps_only_the_named_inputs():
    result, _ = run_cell("x = 1.0\nw = 2.0\ny = x * w\n", wrt=("w",))
    assert [row.name for row in result.rows] == ["w", "y"]
    with pytest.raises(CellError, match="'q' is not an input.*x, w"):
        run_cell("x = 1.0\nw = 2.0\ny = x * w\n", wrt=("q",))


def test_non_scalar_target_is_seeded_with_ones_and_says_so():
    result, _ = run_cell("x = np.array([1.0, 2.0])\ny = x * x\n", {"np": np})
    np.testing.assert_array_equal(result.grads["x"], [2.0, 4.0])
    assert any("seeded with ones" in note for note in result.notes)


def test_nan_is_shown_and_flagged():
    result, _ = run_cell("x = -1.0\ny = log(x)\n")
    assert math.isnan(float(result.values["y"]))
    assert any("nan or inf" in note and "y" in note for note in result.notes)


@pytest.mark.parametrize("source, message", [
    ("x = 0.5\ny = np.sin(2.0)\n", "line 2: the target 'y' .* is an input itself.*numpy's functions give plain"),
    ("x = 'a'\ny = sin(x)\n", "line 2: 'x' is a str"),
    ("x = np.ones(3)\nw = np.ones(2)\ny = x * w\n", "line 3: ValueError"),
    ("x = 0.5\ny = np.exp(sin(x))\n", "line 2: a numpy function was given an engine Variable"),
])
def test_errors_are_cell_errors_with_lines(source, message):
    with pytest.raises(CellError, match=message):
        run_cell(source, {"np": np})


def test_unknown_target(seed_cell):
    with pytest.raises(CellError, match="unknown --target 'z'"):
        run_cell(seed_cell, target="z")


class FailingBackward(Function):
    def forward(self, x):
        return x * 1.0

    def backward(self, gy):
        raise ZeroDivisionError("deliberate")


def test_a_failing_user_backward_names_the_function_and_line():
    with pytest.raises(CellError, match=r"^line 2: FailingBackward.backward failed: ZeroDivisionError: deliberate"):
        run_cell("x = 1.0\ny = FailingBackward()(x)\n", {"FailingBackward": FailingBackward})


def test_an_enormous_input_is_refused_before_any_work():
    with pytest.raises(CellError) as error:
        run_cell("x = np.zeros(10**8)\ny = sum(x)\n", {"np": np})
    assert error.value.category == "size" and error.value.lineno == 1
    assert re.search(r"(?<![\d,])100,000,000 elements", str(error.value))


@pytest.mark.parametrize("source, category", [
    ("x = 0.5\ny = (x +\n", "syntax"),
    ("x = 0.5\ny = sqaure(x)\n", "name"),
    ("x = 'a'\ny = sin(x)\n", "input"),
    ("x = np.ones(3)\ny = x * np.ones(2)\n", "shape"),
    ("x = 0.5\ny = np.sin(x)\nz = np.exp(sin(x))\n", "type"),
    ("x = 0.5\ny = np.sin(2.0)\n", "target"),
])
def test_errors_carry_a_category(source, category):
    with pytest.raises(CellError) as error:
        run_cell(source, {"np": np})
    assert error.value.category == category
