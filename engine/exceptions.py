"""The engine's own errors, typed. Each also derives from the builtin the engine raised before it was
typed (TypeError, ValueError), so code that catches those still works, and its message is the same:
``message``, then ``hint`` (what to do instead) after a semicolon."""
from __future__ import annotations

import copy


class EngineError(Exception):
    """An error the engine raises itself: ``message`` says what went wrong, ``hint`` what to do instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message, self.hint = message, hint

    def prefixed(self, prefix: str) -> "EngineError":
        """A copy of this error whose message starts with ``prefix`` (e.g. the Function that raised it)."""
        error = copy.copy(self)  # a subclass's own attributes come along
        EngineError.__init__(error, prefix + self.message, self.hint)
        return error


class VariableGivenToNumpy(EngineError, TypeError):
    """A numpy function was given a Variable, which numpy cannot differentiate (np.sum(v), np.asarray(v))."""


class VariableInVariable(EngineError, TypeError):
    """A Variable where the engine needs plain data: Variable(v), or a forward that returns a Variable."""


class NonNumericData(EngineError, TypeError):
    """Data that is not a real number or a numeric array (None, a list, a string, complex numbers).

    ``given`` is the type of what was given (``type(None)`` for None).
    """

    def __init__(self, message: str, hint: str = "", given: type = object) -> None:
        super().__init__(message, hint)
        self.given = given


class ShapeError(EngineError, ValueError):
    """Inputs a function refused, mostly for their shapes (a reshape to another size, an axis out of
    range, matmul's inner sizes); through a Function call the message names it and the input shapes."""


__all__ = ["EngineError", "VariableGivenToNumpy", "VariableInVariable", "NonNumericData", "ShapeError"]
