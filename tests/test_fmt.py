"""adiff_magic.fmt: numbers, arrays and source text as short, stable strings."""
import numpy as np
import pytest

from adiff_magic.fmt import ARRAY_ITEMS, display_width, fmt_array, fmt_number, fmt_short, grid, pad_to, short, wrap


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


def test_an_array_shown_whole_is_neither_rounded_nor_called_summarised():
    third = np.arange(9.0).reshape(3, 3) / 3  # 9 elements, all shown (numpy cuts an axis past 2 + 2)
    text = fmt_array(third)
    assert "summarised" not in text and "..." not in text
    assert "0.3333333333333333" in text  # every digit, as for a small array (digits were not asked for)
    assert "0.333," in fmt_array(third, digits=3)


def test_grid_is_numpys_layout_with_its_shape_first():
    lines, cut = grid(np.array([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]]))
    assert lines == ["(2, 3) [[0.1  0.2 -0.3]", "        [0.4 -0.5  0.6]]"] and not cut
    assert grid(np.array([1.5, -2.0]))[0] == ["(2,) [1.5 -2]"]
    assert grid(np.array(3.297442541400256))[0] == ["3.29744"] and grid(np.array(0.5), None)[0] == ["0.5"]
    assert grid(np.arange(8.0).reshape(2, 2, 2)) == (["(2, 2, 2) [0 1 2 … 6 7] (flattened)"], True)


def test_grid_cuts_the_middle_of_large_arrays_and_says_so():
    lines, cut = grid(np.arange(100.0).reshape(10, 10), rows=6, columns=6)
    assert cut and lines == ["(10, 10) [[ 0  1  2 …  8  9]",  # the first three and the last two of each axis
                             "          [10 11 12 … 18 19]",
                             "          [20 21 22 … 28 29]",
                             "          [ …  …  … …  …  …]",
                             "          [80 81 82 … 88 89]",
                             "          [90 91 92 … 98 99]]"]
    assert not grid(np.arange(7.0), columns=6)[1]  # one '…' for one number would save nothing


@pytest.mark.parametrize("text, columns", [("abc", 3), ("가나", 4), ("x가", 3), ("é", 1), ("e\u0301", 1), ("", 0)])
def test_display_width_counts_wide_characters_twice(text, columns):
    assert display_width(text) == columns


def test_bilingual_lines_wrap_between_words_to_display_columns():
    line = "단계별 backward 검사 your backward, step by step, against incoming × local measured on your forward"
    for width in (30, 40, 60):
        parts = wrap(line, width).splitlines()
        assert all(display_width(part) <= width for part in parts), width
        assert " ".join(parts).split() == line.split()  # words whole, in order
    assert pad_to("가", 4) == "가  " and display_width(pad_to("가", 4)) == 4
