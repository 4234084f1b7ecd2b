"""adiff_magic.fmt: numbers, arrays and source text as short, stable strings."""
import numpy as np
import pytest

from adiff_magic.fmt import ARRAY_ITEMS, fmt_array, fmt_number, fmt_short, short, wrap


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (0.5, "0.5"), (3.297442541400256, "3.297442541400256"), (-2.0, "-2"), (1e-20, "1e-20"),
    (np.float64(0.25), "0.25"), (np.array(4.0), "4"), (float("inf"), "inf"), (float("nan"), "nan"), (7, "7"),
])
def test_numbers_in_their_shortest_exact_form(value, text):
    assert fmt_number(value) == text


def test_small_arrays_in_full_with_their_shape():
    assert fmt_array(np.array([0.5, 1.0, 1.5])) == "[0.5, 1, 1.5] shape (3,)"
    # one line, so that tables stay aligned
    assert fmt_array(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2], [3, 4]] shape (2, 2)"
    assert fmt_array(2.5) == "2.5"


def test_large_arrays_are_summarised_and_say_so():
    text = fmt_array(np.arange(ARRAY_ITEMS + 1, dtype=float))
    assert text == "[0, 1, ..., 5, 6] shape (7,), summarised"
    assert fmt_array(np.arange(7.0) / 3, digits=3) == "[0, 0.333, ..., 1.67, 2] shape (7,), summarised"


def test_digits_round_but_never_print_minus_zero_and_keep_short_numbers_exact():
    assert fmt_short(-0.0) == "0" and fmt_short(-1e-300 * 1e-300) == "0"
    assert fmt_short(0.1, 17) == "0.1"  # not 0.10000000000000001
    assert fmt_short(3.297442541400256) == "3.29744" and fmt_short(3.297442541400256, 3) == "3.3"
    assert fmt_array(np.array([-0.0, 2.0]), digits=3) == "[0, 2] shape (2,)"


def test_wrap_breaks_between_words_after_a_semicolon_first_and_never_inside_a_number():
    line = "     ∂b/∂a = e^a = e^0.25 = 1.28403;  dy/da = 2.56805 × 1.28403 = 3.29744"
    assert wrap(line, 100) == line
    assert wrap(line, 50).splitlines() == ["     ∂b/∂a = e^a = e^0.25 = 1.28403;",
                                           "         dy/da = 2.56805 × 1.28403 = 3.29744"]
    narrow = wrap(line, 20).splitlines()
    assert all(len(part) <= 20 for part in narrow) and " ".join(narrow).split() == line.split()
    assert wrap("x = 0.12345678901234567890123", 10).split() == ["x", "=", "0.12345678901234567890123"]


@pytest.mark.parametrize("text, limit, expected", [
    ("square(x)", 40, "square(x)"),
    ("a  +\n  b", 40, "a + b"),
    ("x" * 50, 10, "x" * 9 + "…"),
])
def test_short_source_text(text, limit, expected):
    assert short(text, limit) == expected
