"""What went wrong in the user's cell, in one located paragraph: exceptions raised while the cell or
its backward pass ran become CellErrors with the cell line, a plain message and a hint."""
from __future__ import annotations

import difflib
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from engine import (EngineError, NonNumericData, ShapeError, VariableGivenToNumpy, VariableInVariable,
                    failed_function)

from .vocabulary import VOCABULARY


FILENAME = "<%%grad cell>"  # the cell's file name in tracebacks: how its lines are told from ours

CATEGORIES = ("empty", "syntax", "name", "input", "size", "shape", "type", "arithmetic", "recursion", "runtime",
              "backward", "target", "option", "interrupted", "internal")


class CellError(Exception):
    """A mistake in the cell, located at a line: prints the line number, the message and the line.

    ``category`` (one of CATEGORIES) says what kind of mistake it is, for tests and tools.
    """

    def __init__(self, message: str, lineno: Optional[int] = None, line: str = "", hint: str = "",
                 category: str = "runtime") -> None:
        super().__init__(message)
        self.message, self.lineno, self.line, self.hint, self.category = message, lineno, line, hint, category

    def __str__(self) -> str:
        where = f"line {self.lineno}: " if self.lineno else ""
        hint = f" ({self.hint})" if self.hint else ""
        shown = f"\n    {self.line.strip()}" if self.line.strip() else ""
        return f"{where}{self.message}{hint}{shown}"


def source_line(lines: Sequence[str], lineno: Optional[int]) -> str:
    """The cell's line ``lineno`` (1-based), or '' if there is none."""
    if lineno is None or not 1 <= lineno <= len(lines):
        return ""
    return lines[lineno - 1]


NUMBER_HINT = "use a number such as 0.5 or an array such as np.array([1.0, 2.0])"


@dataclass(frozen=True)
class NonNumber:
    """A value the cell uses that cannot be an input: what it is and where it came from."""

    kind: str  # 'a str', 'None', 'a complex number', 'an array of strings (dtype <U3)' ...
    origin: str  # 'assigned on line 1' or 'from the notebook'
    lineno: Optional[int]


def non_number(value: Any) -> Optional[str]:
    """What ``value`` is ('a str', 'an array of strings (dtype <U3)'), if a learner may mean it as an
    input but the engine cannot use it; else None."""
    if isinstance(value, np.ndarray):
        kinds = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}
        if value.dtype.kind in "biuf":
            return None
        return f"an array of {kinds.get(value.dtype.kind, 'non-numbers')} (dtype {value.dtype})"
    if isinstance(value, (complex, np.complexfloating)):
        return "a complex number"
    if value is None:
        return "None"
    if isinstance(value, (str, bytes, list, tuple, dict, set)):
        return f"a {type(value).__name__}"
    return None


def non_number_error(lines: Sequence[str], name: str, found: NonNumber, lineno: Optional[int]) -> CellError:
    """'x' is a str (assigned on line 1), not a real number or a numeric array."""
    return CellError(f"'{name}' is {found.kind} ({found.origin}), not a real number or a numeric array",
                     lineno, source_line(lines, lineno), NUMBER_HINT, category="input")


def _learner_code_given_an_engine_variable(error: BaseException) -> Optional[str]:
    """The name of the notebook's function that raised ``error`` while holding one of this engine's
    Variables (a learner's own classes given x = 0.5, which the cell made an engine input), or None."""
    from engine import Variable

    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    code = [f for f in frames if f.f_globals.get("__name__") not in (None, "engine", "adiff_magic")
            and not f.f_globals.get("__name__", "").startswith(("engine.", "adiff_magic.", "numpy"))
            and f.f_code.co_filename != FILENAME]
    if not code or not isinstance(error, (TypeError, ValueError, AttributeError)):
        return None
    frame = code[-1]
    if not any(isinstance(value, Variable) for value in frame.f_locals.values()):
        return None
    owner = frame.f_locals.get("self")
    if owner is None or isinstance(owner, Variable) or not hasattr(type(owner), "backward"):
        return None  # not a learner's Variable or Function (a helper of the notebook's, say)
    return f"{type(owner).__name__}.{frame.f_code.co_name}"


def from_exception(lines: Sequence[str], error: BaseException, non_numbers: dict, shadowed: dict) -> CellError:
    """The CellError for an exception raised while the cell ran, at the cell line it came from."""
    lineno = cell_line(error)
    line = source_line(lines, lineno)
    culprit = named_on_line(line, non_numbers)
    if culprit and isinstance(error, (TypeError, ValueError)):
        return non_number_error(lines, culprit, non_numbers[culprit], lineno)
    theirs = _learner_code_given_an_engine_variable(error)
    if theirs is not None:
        return CellError(f"{theirs} (a function of this notebook's) was given this engine's Variable and failed "
                         f"({type_name(error)}: {error}): a number the cell binds to a name becomes an input of this "
                         "engine", lineno, line, "with your own classes, make inputs your way, e.g. "
                         "x = Variable(np.array(0.5)); or run the cell on this engine with %%grad --engine ours",
                         category="type")
    hidden = named_on_line(line, shadowed)
    if hidden and isinstance(error, TypeError) and _says(error, "not callable"):
        return CellError(f"'{hidden}' is {shadowed[hidden]} in the notebook, which hides the engine's {hidden}()",
                         lineno, line, f"rename it, or run `del {hidden}` in the notebook", category="name")
    return _from_kind(error, lineno, line)


# What numpy and Python say in some of their errors, for the few the magic explains: their exceptions
# are plain TypeError and ValueError, so their text is all there is to tell them by. The engine's own
# errors are typed (engine.EngineError and its subclasses, see _from_engine) and never matched by text.
FOREIGN_MESSAGES = {
    "ufunc": ("does not support ufuncs",),  # np.sin(v): numpy, as Variable.__array_ufunc__ is None
    "None": ("'NoneType'",),  # 0.1 * None: Python's operators
    "truth": ("truth value of an array",),  # if np.array([True, False]): numpy
    "not callable": ("not callable",),  # 3(x): Python
    "shape": ("shape", "broadcast"),  # operands could not be broadcast together with shapes ...: numpy
}


def _says(error: BaseException, what: str) -> bool:
    """True if ``error``'s message is numpy's or Python's message ``what`` (see FOREIGN_MESSAGES)."""
    return any(fragment in str(error) for fragment in FOREIGN_MESSAGES[what])


def _grad_is_none(lineno: Optional[int], line: str) -> CellError:
    return CellError("a .grad used here is None", lineno, line,
                     "after backward() only inputs keep their gradient; in a descent loop start each step "
                     "from a new input, e.g. x = Variable(x.data - lr.data * x.grad)", category="type")


def _from_engine(error: EngineError, lineno: Optional[int], line: str) -> CellError:
    """The CellError for one of the engine's own errors, told by its type."""
    if isinstance(error, VariableGivenToNumpy):
        return CellError(error.message, lineno, line, error.hint, category="type")
    if isinstance(error, VariableInVariable):
        return CellError("Variable(...) was given a Variable: in a %%grad cell every number bound to a name "
                         "(lr = 0.1 too) is an input Variable", lineno, line,
                         "take .data of each, e.g. Variable(x.data - lr.data * x.grad)", category="type")
    if isinstance(error, NonNumericData) and error.given is type(None) and ".grad" in line:
        return _grad_is_none(lineno, line)
    return CellError(f"{type_name(error)}: {error}", lineno, line, category=_category(error))


def _from_kind(error: BaseException, lineno: Optional[int], line: str) -> CellError:
    if isinstance(error, EngineError):
        return _from_engine(error, lineno, line)
    message = str(error) or type(error).__name__
    if isinstance(error, TypeError) and _says(error, "ufunc"):
        return CellError("a numpy function was given an engine Variable", lineno, line,
                         "use the engine's function, e.g. sin(x) instead of np.sin(x)", category="type")
    if isinstance(error, NameError):
        return CellError(f"undefined name: {message}", lineno, line, category="name")
    if isinstance(error, AttributeError):
        return CellError(f"AttributeError: {message}", lineno, line, _attribute_hint(error), category="name")
    if isinstance(error, RecursionError):
        return CellError("RecursionError: the code recursed too deeply", lineno, line, category="recursion")
    if isinstance(error, KeyboardInterrupt):
        return CellError("interrupted (KeyboardInterrupt)", lineno, line, category="interrupted")
    if isinstance(error, TypeError) and _says(error, "None") and ".grad" in line:
        return _grad_is_none(lineno, line)
    if isinstance(error, ValueError) and _says(error, "truth"):
        return CellError("an if or while was given a whole array of True/False, not one", lineno, line,
                         "compare one element (x[0] > 0), or use (x > 0).any() or (x > 0).all()", category="runtime")
    if isinstance(error, SystemExit):
        return CellError("the cell raised SystemExit (exit() or sys.exit()); %%grad stopped there and "
                         "changed nothing", lineno, line, category="runtime")
    return CellError(f"{type(error).__name__}: {message}", lineno, line, category=_category(error))


def plain_number_function(lines: Sequence[str], function: Any, lineno: int) -> CellError:
    """math.sin(x) or np.float64(x) on a Variable: it would drop the graph, so say what to use."""
    name = getattr(function, "__name__", "function")
    module = "math" if getattr(function, "__module__", None) == "math" else "np"
    if module == "math" and name in VOCABULARY.math_twins:
        hint = f"use the engine's {name}(...), which records the graph, or .data for a plain number"
    else:
        hint = "use the engine's functions, which record the graph, or .data for a plain number"
    return CellError(f"{module}.{name}() turns an engine Variable into a plain number, so no gradient could "
                     "flow through it", lineno, source_line(lines, lineno), hint, category="type")


def reused_function(lines: Sequence[str], name: Optional[str], function: Any, first: int, lineno: int,
                    text: str, wrapper: Optional[str], theirs: bool = False) -> CellError:
    """A Function instance called a second time: it records one call, so the first call's graph is cut (a
    learner's own DeZero Function: its first output's creator now has that output as its input)."""
    cls = type(function).__name__
    who = f"the Function instance '{name}'" if name else f"a {cls} instance"
    where = "on this line (in an earlier pass)" if first == lineno else f"on line {first}"
    arguments = text[len(name) + 1:-1] if name and text.startswith(f"{name}(") and text.endswith(")") else "..."
    hint = f"create a new one per call: {cls}()({arguments})" + (f", or {wrapper}({arguments})" if wrapper else "")
    if theirs:
        why = (f"a DeZero Function remembers one call (self.input, self.output), so the second call replaced the "
               f"first one's: the first call's output still has {name or 'it'} as its creator, whose input is now "
               "the second call's, and backward() would follow the two in a circle (a RecursionError) or give "
               "wrong gradients")
    else:
        why = ("a Function object records one call, and a second call overwrites its inputs and outputs, which "
               "cuts the first call out of the graph")
    return CellError(f"{who} was already called {where}: {why}", lineno, source_line(lines, lineno), hint,
                     category="runtime")


def type_name(error: BaseException) -> str:
    """The name of ``error``'s type as the learner knows it: the builtin one (TypeError, ValueError) of the
    engine's own errors, whose messages read as before they were typed."""
    if isinstance(error, EngineError):
        return next(kind.__name__ for kind in type(error).__mro__ if kind.__module__ == "builtins")
    return type(error).__name__


def _category(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "size"
    if isinstance(error, ShapeError) or (isinstance(error, ValueError) and _says(error, "shape")):
        return "shape"
    if isinstance(error, TypeError):
        return "type"
    if isinstance(error, ArithmeticError):
        return "arithmetic"
    return "runtime"


def _attribute_hint(error: AttributeError) -> str:
    name, owner = getattr(error, "name", None), getattr(error, "obj", None)
    if not name or owner is None:
        return ""
    close = difflib.get_close_matches(name, [n for n in dir(owner) if not n.startswith("_")], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def named_on_line(line: str, names: dict) -> Optional[str]:
    """The first of ``names`` that the source ``line`` mentions (not as an attribute), or None."""
    for name in names:
        if re.search(rf"(?<![\w.]){re.escape(name)}\b", line):
            return name
    return None


def cell_line(error: BaseException) -> Optional[int]:
    """The cell line the innermost frame of ``error``'s traceback inside the cell was running."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == FILENAME]
    return frames[-1].lineno if frames else None


def from_backward(lines: Sequence[str], error: BaseException, label: Callable[[Any], Any]) -> CellError:
    """The CellError for a failure inside backward, at the line of the function whose backward failed."""
    func = failed_function(error)
    outputs = [ref() for ref in func.outputs] if func is not None else []
    labels = [label(y) for y in outputs if y is not None]
    lineno = next((shown.lineno for shown in labels if shown is not None), None)
    if isinstance(error, CellError):  # said already, by a learner's own function (own.Theirs): placed here
        if error.lineno is None:
            error.lineno, error.line = lineno, source_line(lines, lineno)
        return error
    if isinstance(error, KeyboardInterrupt):
        return CellError("interrupted (KeyboardInterrupt) during backward", lineno, source_line(lines, lineno),
                         category="interrupted")
    name = f"{type(func).__name__}.backward" if func is not None else "backward"
    return CellError(f"{name} failed: {type_name(error)}: {error}", lineno, source_line(lines, lineno),
                     category="recursion" if isinstance(error, RecursionError) else "backward")
