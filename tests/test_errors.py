"""adiff_magic.errors: the bottom layer. A CellError prints its line, message, hint and source; an
exception raised by the cell's code or by a backward becomes one located CellError. Only the
cell's lines are needed, not a parsed Program."""
import ast
import inspect
import math

import numpy as np
import pytest

from adiff_magic import errors
from adiff_magic.errors import CATEGORIES, FILENAME, CellError, NonNumber, source_line
from adiff_magic.vocabulary import vocabulary
from engine import (Function, NonNumericData, ShapeError, Variable, VariableGivenToNumpy, VariableInVariable, exp,
                    functions)

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
    error = errors.plain_number_function(LINES, math.sin, 2)
    assert error.lineno == 2 and "math.sin()" in error.message and "engine's sin(...)" in error.hint
    assert "engine's functions" in errors.plain_number_function(LINES, math.floor, 2).hint


def test_the_math_hint_names_any_engine_function_of_the_registry(monkeypatch):
    """The engine twins of math functions come from the engine's registry: an erf added there is named."""
    monkeypatch.setattr(errors, "VOCABULARY", vocabulary({**functions.FUNCTIONS, "erf": None}, functions))
    assert "engine's erf(...)" in errors.plain_number_function(LINES, math.erf, 2).hint


# The engine's own errors are told by their type, and the magic's messages for them read as before
# they were typed (these strings are those of the untyped engine): an engine error's type is shown
# by the builtin it derives from.
SEED = "x = Variable(np.array([1.0, 2.0, 3.0]))\n"
TYPED = [
    ("y = np.sum(x)", VariableGivenToNumpy, "type",
     "np.sum() was given an engine Variable (use the engine's sum(...), which records the graph, or .data for "
     "the plain array (no gradient flows through it))"),
    ("y = np.asarray(x)", VariableGivenToNumpy, "type",
     "numpy was given an engine Variable, which it cannot differentiate (use .data for the plain array (no "
     "gradient flows through it))"),
    ("y = Variable(x * 2)", VariableInVariable, "type",
     "Variable(...) was given a Variable: in a %%grad cell every number bound to a name (lr = 0.1 too) is an "
     "input Variable (take .data of each, e.g. Variable(x.data - lr.data * x.grad))"),
    ("y = Variable(x.grad)", NonNumericData, "type",
     "a .grad used here is None (after backward() only inputs keep their gradient; in a descent loop start "
     "each step from a new input, e.g. x = Variable(x.data - lr.data * x.grad))"),
    ("y = Variable([x.data])", NonNumericData, "type",
     "TypeError: Variable data must be a number or a numpy array, got list; wrap it with np.array(...)"),
    ("y = x.reshape(2, 2)", ShapeError, "shape",
     "ValueError: Reshape of shapes (3,): reshape: cannot reshape shape (3,) into shape (2, 2)"),
    ("y = x + Variable(np.ones(2))", ShapeError, "shape",
     "ValueError: Add of shapes (3,), (2,): operands could not be broadcast together with shapes (3,) (2,) "),
]


@pytest.mark.parametrize("line, kind, category, message", TYPED, ids=[t[1].__name__ + ": " + t[0] for t in TYPED])
def test_the_engines_typed_errors_give_the_same_messages(line, kind, category, message):
    source = SEED + line
    raised = raised_in_cell(source)
    assert isinstance(raised, kind)
    error = errors.from_exception(tuple(source.splitlines()), raised, {}, {})
    assert (str(error), error.category) == (f"line 2: {message}\n    {line}", category)


def test_errors_matches_message_text_in_one_table():
    """Exception messages are matched only through FOREIGN_MESSAGES (numpy's and Python's words), in
    _says: the engine's own errors are told by their type, never by the text the engine writes."""
    tree = ast.parse(inspect.getsource(errors))
    says = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "_says")
    inside = {id(node) for node in ast.walk(says)}
    matched = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare) and id(node) not in inside
               and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
               and any(isinstance(n, ast.Call) and ast.unparse(n.func) == "str" or ast.unparse(n) == "message"
                       for side in node.comparators for n in ast.walk(side))]
    assert not matched, matched


class Broken(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        raise ZeroDivisionError("broken rule")


class Wordy(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return "two"


def test_an_engine_error_in_a_backward_is_shown_as_the_builtin_it_derives_from():
    y = Wordy()(Variable(1.0))
    with pytest.raises(NonNumericData) as raised:
        y.backward()
    error = errors.from_backward(LINES, raised.value, lambda variable: None)
    assert error.message == ("Wordy.backward failed: TypeError: Wordy.backward's result must be a number or a numpy "
                             "array, got str")


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
