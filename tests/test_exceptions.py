"""engine.exceptions: the engine's own errors are typed, each still the builtin it was before
(TypeError, ValueError), with the same message: ``message``, then ``hint`` after a semicolon."""
import numpy as np
import pytest

import engine
from engine import Function, Variable


NO_GRADIENT = "the plain array (no gradient flows through it)"
TYPED_ERRORS = [  # the call, its error's type, the builtin it was before it was typed, message, hint
    (lambda v: np.sum(v), engine.VariableGivenToNumpy, TypeError, "np.sum() was given an engine Variable",
     f"use the engine's sum(...), which records the graph, or .data for {NO_GRADIENT}"),
    (lambda v: np.percentile(v, 50), engine.VariableGivenToNumpy, TypeError,
     "np.percentile() was given an engine Variable", f"use .data for {NO_GRADIENT}"),
    (lambda v: np.asarray(v), engine.VariableGivenToNumpy, TypeError,
     "numpy was given an engine Variable, which it cannot differentiate", f"use .data for {NO_GRADIENT}"),
    (lambda v: Variable(v), engine.VariableInVariable, TypeError,
     "Variable data must be an array or a number, not a Variable", "use x.data"),
    (lambda v: Variable(None), engine.NonNumericData, TypeError,
     "Variable data must be a number or a numpy array, got NoneType", ""),
    (lambda v: Variable([1.0]), engine.NonNumericData, TypeError,
     "Variable data must be a number or a numpy array, got list", "wrap it with np.array(...)"),
    (lambda v: v.reshape(3), engine.ShapeError, ValueError,
     "Reshape of shapes (2,): reshape: cannot reshape shape (2,) into shape (3,)", ""),
    (lambda v: v + Variable(np.ones(3)), engine.ShapeError, ValueError,
     "Add of shapes (2,), (3,): operands could not be broadcast together with shapes (2,) (3,) ", ""),
]


@pytest.mark.parametrize("call, kind, builtin, message, hint", TYPED_ERRORS,
                         ids=[f"{t[1].__name__}-{k}" for k, t in enumerate(TYPED_ERRORS)])
def test_the_engines_own_errors_are_typed_and_read_as_before(call, kind, builtin, message, hint):
    with pytest.raises(kind) as raised:
        call(Variable(np.array([1.0, 2.0])))
    error = raised.value
    assert isinstance(error, builtin) and isinstance(error, engine.EngineError)
    assert (error.message, error.hint) == (message, hint)
    assert str(error) == (f"{message}; {hint}" if hint else message)  # the message of the untyped engine


def test_an_engine_error_inside_a_forward_keeps_its_type_and_names_the_function():
    class Scaled(Function):
        def __init__(self, scale):
            self.scale = scale

        def forward(self, x):
            return x * np.sum(self.scale)  # a Variable given to numpy

    with pytest.raises(engine.VariableGivenToNumpy) as raised:
        Scaled(Variable(2.0))(Variable(1.0))
    assert raised.value.message == "Scaled of shapes (): np.sum() was given an engine Variable"
    assert raised.value.hint.startswith("use the engine's sum(...)")


def test_non_numeric_data_says_what_was_given():
    with pytest.raises(engine.NonNumericData) as raised:
        Variable(None)
    assert raised.value.given is type(None)


def test_a_prefixed_copy_keeps_type_hint_and_attributes():
    error = engine.NonNumericData("data is a str", "use a number", given=str)
    prefixed = error.prefixed("Exp of shapes (): ")
    assert type(prefixed) is engine.NonNumericData and prefixed.given is str
    assert str(prefixed) == "Exp of shapes (): data is a str; use a number"
    assert str(error) == "data is a str; use a number"  # the original is left as it was
