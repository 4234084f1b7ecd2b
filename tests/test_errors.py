"""adiff_magic.errors: the bottom layer. A CellError prints its line, message, hint and source; an
exception raised by the cell's code or by a backward becomes one located CellError. Only the
cell's lines are needed, not a parsed Program."""
import numpy as np
import pytest

from adiff_magic import errors
from adiff_magic.errors import CATEGORIES, FILENAME, CellError, NonNumber, source_line
from engine import Function, Variable, exp

LINES = ("x = 0.5", "y = square(x)", "z = y * q")


def raised_in_cell(source: str) -> BaseException:
    """The exception that running ``source`` as the cell raises, with the cell's file name in its traceback."""
    try:
        exec(compile(source, FILENAME, "exec"), {"Variable": Variable, "np": np})
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are cell errors too
        return error
    raise AssertionError("the cell did not fail")


def test_a_cell_error_prints_line_message_hint_and_source():
    error = CellError("unknown function 'sqaure'", 2, "b = sqaure(x)", "did you mean 'square'?", category="name")
    assert str(error) == "line 2: unknown function 'sqaure' (did you mean 'square'?)\n    b = sqaure(x)"
    assert str(CellError("the cell is empty", category="empty")) == "the cell is empty"
    assert error.category in CATEGORIES


@pytest.mark.parametrize("lineno, expected", [(1, "x = 0.5"), (3, "z = y * q"), (0, ""), (4, ""), (None, "")])
def test_source_line(lineno, expected):
    assert source_line(LINES, lineno) == expected


@pytest.mark.parametrize("value, kind", [
    ("half", "a str"), (None, "None"), ([1.0], "a list"), (2j, "a complex number"),
    (np.array(["a"]), "an array of strings (dtype <U1)"), (0.5, None), (np.array([1, 2]), None),
])
def test_non_number_says_what_a_value_is(value, kind):
    assert errors.non_number(value) == kind


def test_named_on_line_ignores_attributes_and_longer_names():
    names = {"q": None, "x": None}
    assert errors.named_on_line("z = y * q", names) == "q"
    assert errors.named_on_line("z = obj.q + qq", {"q": None}) is None


@pytest.mark.parametrize("source, lineno, words, category", [
    ("x = 1\ny = undefined_name\n", 2, "undefined name", "name"),
    ("x = 1\ny = x.nope\n", 2, "AttributeError", "name"),
    ("x = 1\ny = 1 / 0\n", 2, "ZeroDivisionError", "arithmetic"),
    ("x = 1\nraise SystemExit\n", 2, "SystemExit", "runtime"),
    ("x = np.array([1.0, 2.0])\nif x > 0:\n    y = 1\n", 2, "whole array of True/False", "runtime"),
    ("x = Variable(1.0)\ny = np.sum(x)\n", 2, "np.sum() was given an engine Variable", "type"),
    ("x = Variable(1.0)\ny = Variable(x * 2)\n", 2, "Variable(...) was given a Variable", "type"),
    ("x = Variable(1.0)\ny = x - 0.1 * x.grad\n", 2, ".grad used here is None", "type"),
])
def test_exceptions_from_the_cell_become_located_cell_errors(source, lineno, words, category):
    error = errors.from_exception(tuple(source.splitlines()), raised_in_cell(source), {}, {})
    assert (error.lineno, error.category) == (lineno, category)
    assert words in error.message or words in error.hint
    assert error.line == source.splitlines()[lineno - 1]


def test_a_non_number_on_the_failing_line_is_the_mistake_named():
    source = "q = 'half'\nr = np.exp(q)\n"
    found = {"q": NonNumber("a str", "assigned on line 1", 1)}
    error = errors.from_exception(tuple(source.splitlines()), raised_in_cell(source), found, {})
    assert str(error).startswith("line 2: 'q' is a str (assigned on line 1), not a real number")


def test_math_on_a_variable_names_the_engine_function():
    import math
    error = errors.plain_number_function(LINES, math.sin, 2)
    assert error.lineno == 2 and "math.sin()" in error.message and "engine's sin(...)" in error.hint


class Broken(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        raise ZeroDivisionError("broken rule")


def test_a_failing_backward_is_located_at_the_line_of_its_function():
    x = Variable(1.0)
    middle = Broken()(x)
    y = exp(middle)
    with pytest.raises(ZeroDivisionError) as raised:
        y.backward()

    def label(variable):
        return type("Label", (), {"lineno": 2})() if variable is middle else None

    error = errors.from_backward(LINES, raised.value, label)
    assert (error.lineno, error.category, error.line) == (2, "backward", "y = square(x)")
    assert error.message.startswith("Broken.backward failed: ZeroDivisionError: broken rule")
