"""Tests for adiff_magic.layout: the blocks the text and HTML renderings share."""
from adiff_magic.layout import column_widths, escape, html_block, local_parts, stacked, summarised, table_line, \
    table_width
from adiff_magic.model import Local


def test_columns_count_display_width_and_lines_are_padded_to_them():
    header = ["", "값 value", "grad"]
    body = [[["x"], ["0.5"], ["1"]], [["loss"], ["[[1 2]", " [3 4]]"], ["-0.25"]]]
    assert column_widths(header, body) == [4, 8, 5]  # 값 takes two columns
    assert table_width(header, body) == 4 + 8 + 5 + 2 * 2
    assert table_line(["x", "0.5", "1"], [4, 8, 5]) == "x     0.5       1"


def test_a_row_stacked_for_a_narrow_terminal():
    header = ["", "value", "grad", "line", "made by"]
    cells = [["W"], ["[[1 2]", " [3 4]]"], [""], ["2"], ["np.ones(…)"]]
    assert stacked(header, cells, 40) == ["W  (line 2: np.ones(…))", "    value: [[1 2]", "            [3 4]]"]


def test_summarised_keeps_the_first_and_last():
    assert summarised(tuple(range(5)), 2, 6) == ((0, 1, 2, 3, 4), 0)
    assert summarised(tuple(range(10)), 2, 6) == ((0, 1, 8, 9), 6)


def test_html_keeps_alignment_and_escapes():
    assert html_block(["[[1  2]", " [3 <4]]"]) == "[[1\u00a0\u00a02]<br>\u00a0[3\u00a0&lt;4]]"
    assert escape('a<"b">') == "a&lt;&quot;b&quot;&gt;"


def test_a_local_derivative_in_the_cells_letters():
    local = Local("2·{x}", {"x": "b", "y": "y"}, {"x": 1.2840254166877414, "y": 1.648721270700128}, 2.568050833375483)
    assert local_parts(local, 6) == ["2·b", "2·1.28403", "2.56805"]
    assert local_parts(Local("", {}, {}, 0.5), 6) == ["passed ÷ incoming", "0.5"]
