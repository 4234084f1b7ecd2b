"""adiff_magic.vocabulary: the parser's and the error messages' tables of function names, built from
the engine's registry (engine.functions.FUNCTIONS) plus Python's and numpy's own names."""
from types import SimpleNamespace

from adiff_magic import parser
from adiff_magic.vocabulary import VOCABULARY, vocabulary
from engine import functions
from engine.functions import CONSTANT, COUNT, FUNCTIONS

# The lists the magic kept by hand before the registry: everything in them must still be there.
HAND_COUNT_FUNCTIONS = {"range": 0, "arange": 0, "zeros": 0, "ones": 0, "empty": 0, "full": 0, "eye": 0,
                        "identity": 0, "reshape": 1, "transpose": 1, "sum": 1, "mean": 1, "softmax": 1,
                        "log_softmax": 1, "getitem": 1, "broadcast_to": 1, "sum_to": 1, "repeat": 1, "tile": 1,
                        "one_hot": 1}
HAND_COUNT_KEYWORDS = {"axis", "axes", "shape", "size", "n", "num", "keepdims", "repeats", "k", "dtype", "indices",
                       "index", "minlength", "ndim"}
HAND_BOUND_FUNCTIONS = {"clip": 1}
HAND_BOUND_KEYWORDS = {"x_min", "x_max", "a_min", "a_max"}
HAND_MATH_TWINS = {"exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "pow"}


def test_the_tables_hold_everything_the_hand_kept_lists_had():
    assert HAND_COUNT_FUNCTIONS.items() <= VOCABULARY.count_functions.items()
    assert HAND_COUNT_KEYWORDS <= VOCABULARY.count_keywords
    assert HAND_BOUND_FUNCTIONS.items() <= VOCABULARY.bound_functions.items()
    assert HAND_BOUND_KEYWORDS <= VOCABULARY.bound_keywords
    assert HAND_MATH_TWINS <= VOCABULARY.math_twins


def test_max_min_and_pow_keep_their_operands():
    """In a cell max(a, b), min(a, b) and pow(x, w) mean Python's, so their second argument stays an operand."""
    assert {"max", "min", "pow"}.isdisjoint(VOCABULARY.count_functions.keys() | VOCABULARY.bound_functions.keys())
    assert "c" not in VOCABULARY.bound_keywords  # pow's exponent, by keyword


def roll(x, shift, axis=None):
    """A function an engine might add: its shift and axis are counts."""


def limit(x, ceiling):
    """One whose second argument is a constant."""


def test_a_function_added_to_the_registry_is_picked_up():
    registry = {**FUNCTIONS, "roll": (COUNT, 1), "limit": (CONSTANT, 1), "erf": None}
    names = SimpleNamespace(**{name: getattr(functions, name) for name in FUNCTIONS}, roll=roll, limit=limit,
                            erf=lambda x: x)
    grown = vocabulary(registry, names)
    assert grown.count_functions["roll"] == 1 and {"shift", "axis"} <= grown.count_keywords
    assert grown.bound_functions["limit"] == 1 and "ceiling" in grown.bound_keywords
    assert "erf" in grown.math_twins  # math.erf exists: `math.erf(v)` would be told to use erf(...)
    assert vocabulary(FUNCTIONS, functions) == VOCABULARY


def test_the_parser_reads_its_counts_from_the_vocabulary(monkeypatch):
    source = "s = 2\ny = roll(x, s)\n"
    assert parser.parse(source).count_names == set()
    names = SimpleNamespace(**{name: getattr(functions, name) for name in FUNCTIONS}, roll=roll)
    monkeypatch.setattr(parser, "VOCABULARY", vocabulary({**FUNCTIONS, "roll": (COUNT, 1)}, names))
    assert parser.parse(source).count_names == {"s"}
