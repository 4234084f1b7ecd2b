"""What the function names a cell calls mean to the magic, built from the engine's registry
(engine.functions.FUNCTIONS) and a short list of Python's and numpy's own: which arguments are counts
(their integers stay integers), which are constant bounds (their numbers stay plain), and which math
functions have an engine twin."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from engine import functions as engine_functions
from engine.functions import CONSTANT, COUNT, FUNCTIONS

# Not the engine's: Python's and numpy's functions whose arguments are counts (name -> the first
# such argument; 0 is all of them), their keywords that are counts, and np.clip's bounds by keyword.
# (one_hot is no library's: it is the usual name of a learner's own helper.)
NUMPY_COUNT_FUNCTIONS = {"range": 0, "arange": 0, "zeros": 0, "ones": 0, "empty": 0, "full": 0, "eye": 0,
                         "identity": 0, "repeat": 1, "tile": 1, "one_hot": 1}
NUMPY_COUNT_KEYWORDS = frozenset({"size", "n", "num", "repeats", "k", "dtype", "indices", "minlength", "ndim"})
NUMPY_BOUND_KEYWORDS = frozenset({"a_min", "a_max"})

# In a cell these keep Python's meaning (see execute.ENGINE_NAMES): the second argument of max(a, b),
# min(a, b) and pow(x, w) is an operand, not the engine's axis or constant exponent.
PYTHON_MEANING = frozenset({"max", "min", "pow"})


@dataclass(frozen=True)
class Vocabulary:
    """The parser's and the error messages' tables of function names."""

    count_functions: Mapping[str, int]  # name -> first argument that is a count, index, axis or shape
    count_keywords: frozenset  # keywords whose value is one, in any call
    bound_functions: Mapping[str, int]  # name -> first argument that is a constant bound (clip's)
    bound_keywords: frozenset
    math_twins: frozenset  # math functions with an engine function of the same name (math.sin: sin)


def vocabulary(registry: Mapping[str, Optional[tuple]], functions: Any) -> Vocabulary:
    """The Vocabulary of an engine ``registry`` (name -> (role, position) or None) whose functions are
    attributes of ``functions``, with Python's and numpy's names added."""
    counts, count_keywords = _arguments(registry, functions, COUNT)
    bounds, bound_keywords = _arguments(registry, functions, CONSTANT)
    return Vocabulary({**NUMPY_COUNT_FUNCTIONS, **counts}, NUMPY_COUNT_KEYWORDS | count_keywords,
                      bounds, NUMPY_BOUND_KEYWORDS | bound_keywords,
                      frozenset(name for name in registry if callable(getattr(math, name, None))))


def _arguments(registry: Mapping[str, Optional[tuple]], functions: Any, role: str) -> tuple:
    """(name -> first argument that plays ``role``, the parameter names of those arguments)."""
    positions: dict = {}
    keywords: set = set()
    for name, entry in registry.items():
        if entry is None or entry[0] != role or name in PYTHON_MEANING:
            continue
        positions[name] = entry[1]
        keywords.update(list(inspect.signature(getattr(functions, name)).parameters)[entry[1]:])
    return positions, frozenset(keywords)


VOCABULARY = vocabulary(FUNCTIONS, engine_functions)
