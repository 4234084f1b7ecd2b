"""adiff_magic.fmt: numbers, arrays and source text as short, stable strings."""
import numpy as np
import pytest

from adiff_magic.fmt import ARRAY_ITEMS, fmt_array, fmt_number, short


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (0.5, "0.5"), (3.297442541400256, "3.297442541400256"), (-2.0, "-2"), (1e-20, "1e-20"),
    (np.float64(0.25), "0.25"), (np.array(4.0), "4"), (float("inf"), "inf"), (float("nan"), "nan"), (7, "7"),
])
def test_numbers_in_their_shortest_exact_form(value, text):
    assert fmt_number(value) == text


def test_small_arrays_in_full_with_their_shape():
    assert fmt_array(np.array([0.5, 1.0, 1.5])) == "[0.5, 1, 1.5] shape (3,)"
    assert fmt_array(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2],\n [3, 4]] shape (2, 2)"
    assert fmt_array(2.5) == "2.5"


def test_large_arrays_are_summarised_and_say_so():
    text = fmt_array(np.arange(ARRAY_ITEMS + 1, dtype=float))
    assert text == "[0., 1., ..., 5., 6.] shape (7,), summarised"


@pytest.mark.parametrize("text, limit, expected", [
    ("square(x)", 40, "square(x)"),
    ("a  +\n  b", 40, "a + b"),
    ("x" * 50, 10, "x" * 9 + "…"),
])
def test_short_source_text(text, limit, expected):
    assert short(text, limit) == expected
