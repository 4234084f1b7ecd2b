"""Tests for adiff_magic.render: text and HTML from a GradResult built by hand."""
import html
import re
import sys

import numpy as np
import pytest

from adiff_magic.model import GraphEdge
from adiff_magic.fmt import display_width, fmt_array
from adiff_magic.render import TRACE_HEAD, graph_bundle, to_html, to_mermaid, to_text
from adiff_magic.result import GradResult, Row, View
from adiff_magic.trace import BackwardStep, Flow, Local


def seed_result(**changes) -> GradResult:
    """The seed chain's result, with the seed notebook's printed numbers (dy/dx = 2·e^0.5)."""
    rows = (
        Row("x", 1, "0.5", np.array(0.5), np.array(3.297442541400256), True),
        Row("a", 2, "square(x)", np.array(0.25), np.array(3.297442541400256), False),
        Row("b", 3, "exp(a)", np.array(1.2840254166877414), np.array(2.568050833375483), False),
        Row("y", 4, "square(b)", np.array(1.648721270700128), np.array(1.0), False),
    )
    step = BackwardStep(1, "Square", "y", 4, "y = square(b)", (np.array(1.0),), "d/dx x² = 2x",
                        (Flow("b", Local("2·{x}", {"x": "b", "y": "y"}, {"x": 1.2840254166877414,
                                                                          "y": 1.648721270700128}, 2.568050833375483), np.array(2.568050833375483),
                              False, np.array(2.568050833375483)),))
    fields = dict(target="y", rows=rows, steps=(step,), values={r.name: r.value for r in rows},
                  grads={r.name: r.grad for r in rows})
    fields.update(changes)
    return GradResult(**fields)


def test_text_table_is_aligned_and_holds_the_numbers():
    text = to_text(seed_result())
    table = text.split("\n\n")[0].splitlines()
    # name, value and gradient first (a narrow output cuts the cell's own text, not the numbers)
    assert table[0].split() == ["value", "dy/d(name)", "line", "made", "by"]
    assert table[1].split() == ["x", "0.5", "3.297442541400256", "1", "0.5"]
    assert table[4].split() == ["y", "1.648721270700128", "1", "4", "square(b)"]
    value_column = table[0].index("value")
    grad_column = table[0].index("dy/d(name)")
    values = ["0.5", "0.25", "1.2840254166877414", "1.648721270700128"]
    grads = ["3.297442541400256", "3.297442541400256", "2.568050833375483", "1"]
    for line, value, grad in zip(table[1:], values, grads):
        assert line[value_column:].startswith(value) and line[grad_column:].split()[0] == grad


def test_text_trace_shows_the_seeds_step_compactly_in_the_cells_letters():
    text = to_text(seed_result())
    lines = text.splitlines()
    # hand-derived: y = b², so ∂y/∂b = 2b = 2·e^0.25 = 2.56805 (6 digits), and dy/db = 1 × that
    assert "1. line 4  y.creator = Square, input b → Square.backward(dy/dy = 1)" in lines
    assert "     ∂y/∂b = 2·b = 2·1.28403 = 2.56805;  dy/db = 1 × 2.56805 = 2.56805" in lines


def test_full_trace_keeps_the_six_rows_with_the_cells_letters():
    text = to_text(seed_result(view=View(full_trace=True)))
    assert "1. Square.backward  (line 4: y = square(b))" in text
    assert "creator   y.creator = Square" in text and "input     Square.input = b" in text
    assert "incoming  dy/dy = 1" in text and "rule      d/dx x² = 2x" in text
    assert "local     ∂y/∂b = 2·b = 2·1.28403 = 2.56805" in text
    assert "passes    b.grad = 1 × 2.56805 = 2.56805" in text


def test_precision_sets_the_digits_of_trace_and_sentence_but_not_the_table():
    text = to_text(seed_result(view=View(digits=3)))
    assert "∂y/∂b = 2·b = 2·1.28 = 2.57;  dy/db = 1 × 2.57 = 2.57" in text
    assert "2.568050833375483" in text.split("\n\n")[0]  # the table keeps every digit
    text = to_text(seed_result(view=View(digits=17)))
    assert "∂y/∂b = 2·b = 2·1.2840254166877414 = 2.568050833375483" in text


def test_html_has_the_same_numbers_and_no_script_style_or_theme_variables():
    result = seed_result()
    page = to_html(result)
    assert page.count("<tr>") >= 5 and '<table class="adiff-table">' in page
    for number in ("3.297442541400256", "2.568050833375483", "1.648721270700128"):
        assert number in page and number in to_text(result)
    for forbidden in ("<script", "<style", "var(--jp"):
        assert forbidden not in page
    # inline styles only, of plain properties (no theme variables): text-align, and the table's scroll box,
    # which a sanitiser may drop (the table then overflows as it did, nothing else changes)
    assert set(re.findall(r'style="([^"]*)"', page)) == {"text-align:left", "max-width:100%;overflow-x:auto"}


def test_user_text_is_escaped_in_html():
    rows = (Row("x", 1, "<b>0.5</b> & 1", np.array(0.5), np.array(1.0), True),)
    page = to_html(seed_result(rows=rows, steps=()))
    assert "&lt;b&gt;0.5&lt;/b&gt; &amp; 1" in page and "<b>0.5" not in page


def test_long_trace_is_summarised_and_says_so():
    step = seed_result().steps[0]
    steps = tuple(BackwardStep(i, *[getattr(step, f) for f in ("function", "output", "lineno", "source", "gy",
                                                                 "rule", "flows")]) for i in range(1, 101))
    result = seed_result(steps=steps)
    text, page = to_text(result), to_html(result)
    hidden = 100 - 2 * TRACE_HEAD
    assert f"{hidden} more steps not shown" in text and f"{hidden} more steps not shown" in page
    assert len(re.findall(r"^ *\d+\. line 4  y\.creator = Square", text, re.M)) == 2 * TRACE_HEAD


def test_large_arrays_are_summarised_with_shape_and_say_so():
    assert fmt_array(np.arange(10**6, dtype=float)).endswith("shape (1000000,), summarised")
    assert fmt_array(np.array([0.5, 1.0])) == "[0.5, 1] shape (2,)"


def test_no_trace_view_and_notes():
    result = seed_result(view=View(trace=False), notes=("y is not a scalar",))
    text = to_text(result)
    assert "backward trace" not in text and "note: y is not a scalar" in text
    assert "note: y is not a scalar" in to_html(result)


def test_korean_words():
    assert "역전파" in to_text(seed_result(view=View(lang="ko")))


def test_graph_bundle_has_the_svg_and_the_same_graph_as_text_and_mermaid():
    nodes = (("n1", "function", "Square", None, None), ("n2", "variable", "x", np.array(0.5), np.array(1.0)),
             ("n3", "variable", "a", np.array(0.25), np.array(1.0)))
    result = seed_result(graph=(nodes, (GraphEdge("n2", "n1", 1.0), GraphEdge("n1", "n3"))))
    bundle = graph_bundle(result)
    assert bundle["image/svg+xml"].startswith("<svg") and "Square" in bundle["image/svg+xml"]
    assert "x, value 0.5, grad 1 (× 1)  ->  Square  ->  a, value 0.25, grad 1" in bundle["text/plain"]
    mermaid = to_mermaid(result)
    assert mermaid.startswith("flowchart LR") and "n2 --> n1" in mermaid and "n1 --> n3" in mermaid


def test_graph_bundle_has_the_png_only_with_pillow(monkeypatch):
    nodes = (("n1", "function", "Square", None, None), ("n2", "variable", "x", np.array(0.5), np.array(1.0)))
    result = seed_result(graph=(nodes, (GraphEdge("n2", "n1", 1.0),)))
    assert graph_bundle(result)["image/png"].startswith(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    assert set(graph_bundle(result)) == {"image/svg+xml", "text/plain"}


def test_mermaid_labels_cannot_break_out_of_their_quotes():
    nodes = (("n1", "variable", 'x"]; click n1 call alert(1) %% <img src=x>', np.array(1.0), None),)
    mermaid = to_mermaid(seed_result(graph=(nodes, ())))
    label = mermaid.split("\n")[1]
    assert label.count('"') == 2 and "<img" not in label and "#quot;" in label and "#lt;img" in label


# ---------------------------------------------------------------- long tables and traces (issue 9)


def numbered_rows(n: int) -> tuple:
    return tuple(Row(f"v{i}", i, f"sin(v{i - 1})", np.array(i / 10), np.array(float(i)), i == 1)
                 for i in range(1, n + 1))


def table_names(text: str) -> list:
    """The first word of each table line of a text rendering (the table is its first block)."""
    return [line.split()[0] for line in text.split("\n\n")[0].splitlines()[1:]]


def test_a_long_table_shows_its_first_and_last_rows_and_says_how_many_are_hidden():
    from adiff_magic.render import TABLE_HEAD

    rows = numbered_rows(3000)
    result = seed_result(rows=rows, steps=())
    text, page = to_text(result), to_html(result)
    hidden = 3000 - 2 * TABLE_HEAD
    message = f"… {hidden:,} rows not shown (all are in result.rows) …"
    assert hidden > 1000 and message in text and message in page
    shown = [f"v{i}" for i in range(1, TABLE_HEAD + 1)] + [f"v{i}" for i in range(3001 - TABLE_HEAD, 3001)]
    assert table_names(text) == shown[:TABLE_HEAD] + ["…"] + shown[TABLE_HEAD:]
    assert re.findall(r"<th><code>(v\d+)</code></th>", page) == shown
    assert "v1500" not in text and "v1500" not in page
    # the shown rows keep their numbers; the data keeps every row
    last = text.split("\n\n")[0].splitlines()[-1].split()
    assert last == ["v3000", "300", "3000", "3000", "sin(v2999)"]
    assert result.rows == rows and len(result.rows) == 3000


def test_a_table_at_the_limit_is_whole_and_one_more_row_is_summarised():
    from adiff_magic.render import TABLE_HEAD, TABLE_LIMIT

    whole = to_text(seed_result(rows=numbered_rows(TABLE_LIMIT), steps=()))
    assert "not shown" not in whole and len(table_names(whole)) == TABLE_LIMIT
    result = seed_result(rows=numbered_rows(TABLE_LIMIT + 1), steps=())
    hidden = TABLE_LIMIT + 1 - 2 * TABLE_HEAD
    assert f"… {hidden} rows not shown" in to_text(result) and f"… {hidden} rows not shown" in to_html(result)


def test_the_hidden_rows_line_spans_the_html_table_and_is_in_korean_too():
    result = seed_result(rows=numbered_rows(100), steps=(), view=View(lang="ko"))
    text, page = to_text(result), to_html(result)
    assert "… 76행 생략 rows not shown (result.rows에 모두 있음) …" in text
    assert '<tr class="adiff-more"><td colspan="5" style="text-align:left">… 76행 생략' in page


def test_a_descent_loop_has_every_binding_in_rows_and_a_short_table():
    from adiff_magic.parser import parse
    from adiff_magic.runner import run

    cell = ("w = 5.0\nfor k in range(300):\n    lr = 0.01\n    y = square(w)\n    y.backward()\n"
            "    w = Variable(w.data - lr.data * w.grad)\ny = square(w)\n")
    result, _ = run(parse(cell), {})
    assert len(result.rows) == 602 and result.rows[-1].name == "y" and result.rows[0].name == "w#1"
    text, page = to_text(result), to_html(result)
    for rendering in (text, page):
        assert "… 578 rows not shown (all are in result.rows) …" in rendering
        assert "w#1" in rendering and "lr#300" not in rendering and "lr#299" in rendering
    assert len(text.encode()) + len(page.encode()) < 20_000


def test_a_summarised_trace_shows_the_first_and_last_steps_with_their_numbers():
    """sin applied 100 times to x = 0.5, traced: the first step starts the chain at 1, the last
    passes dy/dx = Π cos(sin^k(x)) to x (numbers computed here by hand with math)."""
    import math

    from adiff_magic.render import TRACE_HEAD
    from adiff_magic.fmt import fmt_short
    from adiff_magic.trace import Label, Tracer
    from engine import Variable, sin

    x = Variable(0.5)
    ys = [x]
    for _ in range(100):
        ys.append(sin(ys[-1]))
    names = {id(v): Label("x" if k == 0 else f"y{k}", k + 1) for k, v in enumerate(ys)}
    tracer = Tracer(lambda v: names.get(id(v)), lambda lineno: f"y{lineno - 1} = sin(...)")
    ys[-1].backward(retain_grad=True, hook=tracer)
    values = [0.5]
    for _ in range(100):
        values.append(math.sin(values[-1]))
    incoming = [1.0]  # dy/dy_k, from the top
    for k in range(100, 0, -1):
        incoming.append(incoming[-1] * math.cos(values[k - 1]))
    result = seed_result(target="y100", steps=tuple(tracer.steps))
    text, page = to_text(result), to_html(result)
    hidden = 100 - 2 * TRACE_HEAD
    assert f"… {hidden} more steps not shown (all are in result.steps) …" in text
    assert f"… {hidden} more steps not shown (all are in result.steps) …" in page
    six = lambda v: fmt_short(v, 6)  # noqa: E731
    first = ["  1. line 101  y100.creator = Sin, input y99 → Sin.backward(dy100/dy100 = 1)",
             f"∂y100/∂y99 = cos(y99) = cos({six(values[99])}) = {six(math.cos(values[99]))}"]
    last = [f"100. line 2  y1.creator = Sin, input x → Sin.backward(dy100/dy1 = {six(incoming[99])})",
            f"∂y1/∂x = cos(x) = cos(0.5) = {six(math.cos(0.5))}"]
    for line in first + last:
        assert line in text
    for line in [f"Sin.backward(dy100/dy1 = {six(incoming[99])})", f"∂y1/∂x = cos(x) = cos(0.5) = {six(math.cos(0.5))}"]:
        assert html.escape(line) in page
    assert '<li value="100"><code>line 2  y1.creator = Sin' in page
    passed = float(tracer.steps[-1].flows[0].grad)
    assert math.isclose(passed, incoming[100], rel_tol=1e-12) and math.isclose(passed, float(x.grad), rel_tol=0)
    assert f"dy100/dx = {six(incoming[99])} × {six(math.cos(0.5))} = {six(passed)}" in text
    for k in (13, 50, 88):  # hidden steps
        assert f"  {k}. Sin.backward" not in text and f'<li value="{k}">' not in page


# ---------------------------------------------------------------- the teaching view on real cells (issue 10)

LOGISTIC = "w = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\nloss = -(t*log(p) + (1-t)*log(1-p))\n"
SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
DIAMOND = "x = 2.0\na = x**2\ny = a**2 + a**2\n"


def real(cell: str, **view) -> GradResult:
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run

    return run(parse(cell), {}, Options(view=View(**view)))[0]


def test_the_seed_cells_whole_text_is_at_most_22_lines():
    text = to_text(real(SEED))
    assert len(text.splitlines()) <= 22  # it was 33 with six rows per step
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_seven_line_logistic_regression_is_at_most_50_lines_at_100_columns():
    text = to_text(real(LOGISTIC), width=100)
    lines = text.splitlines()
    assert len(lines) <= 50 and max(len(line) for line in lines) <= 100  # it was 108 lines, some 400 wide
    # the numbers by hand: z = 0, p = σ(0) = 1/2, dloss/dp = -t/p + (1-t)/(1-p) = -2, dp/dz = p(1-p) = 1/4
    assert "dloss/dw = ∂loss/∂p · ∂p/∂z · ∂z/∂w = (-2) × 0.25 × 2 = -1" in lines[9:15][0] + "".join(lines[9:15])
    assert "      ∂(w*x)/∂w = x = 2;  dloss/dw = -0.5 × 2 = -1" in lines
    assert "      ∂(w*x)/∂x = w = 0.5;  dloss/dx = -0.5 × 0.5 = -0.25" in lines
    assert "      ∂p/∂z = p·(1 - p) = 0.5·(1 - 0.5) = 0.25;  dloss/dz = -2 × 0.25 = -0.5" in lines


@pytest.mark.parametrize("full", [False, True])
def test_the_rule_is_written_in_the_cells_letters_never_in_generic_ones(full):
    text = to_text(real(LOGISTIC, full_trace=full))
    # the cell has its own b (the bias): no rule may say ∂(a·b)/∂a or ∂(a + b)/∂a
    assert "∂(a·b)" not in text and "∂(a + b)" not in text and "a·b" not in text
    expected = "rule      ∂(w*x)/∂w = x, ∂(w*x)/∂x = w" if full else "∂z/∂b = 1;  dloss/db = -0.5 × 1 = -0.5"
    assert expected in text


def test_text_wraps_to_the_width_and_never_splits_a_number():
    result = real(LOGISTIC)
    whole = to_text(result, width=10**6).split("\n\n", 1)[1]
    for width in (60, 80, 120):
        text = to_text(result, width=width)
        assert all(display_width(line) <= width for line in text.splitlines() if len(line.split()) > 1), width
        # after the table (whose 'made by' column shrinks to fit), the same words in the same order
        assert text.split("\n\n", 1)[1].split() == whole.split()


def test_identical_source_text_is_told_apart_everywhere():
    result = real(DIAMOND, graph=True)
    text, page = to_text(result), to_html(result)
    for view in (text, page):
        assert "∂y/∂(a**2 [1])" in view and "∂y/∂(a**2 [2])" in view
    names = {node.text for node in result.graph.nodes}
    assert {"a**2 [1]", "a**2 [2]"} <= names
    assert "dy/da += 1 × 8 = 8  → 16" in text  # the second path adds on: 8 + 8


def test_minus_zero_is_never_printed():
    result = real("x = 1.0\nz = 0.0\ny = -(x * z)\n", graph=True)  # dy/dx = -z = -0
    assert str(result.grads["x"]) == "-0.0"  # the engine's own value is -0
    for view in (to_text(result), to_html(result), graph_bundle(result)["image/svg+xml"]):
        assert not re.search(r"(?<![\w.])-0(?![.\d])", view), view


def test_html_has_the_same_lines_as_the_text():
    result = real(LOGISTIC)
    text, page = to_text(result, width=10**6), html.unescape(to_html(result))
    body = text.split("\n\n", 1)[1]  # the chain rule and the trace; the table is checked elsewhere
    for line in body.splitlines():
        assert re.sub(r"^\s*\d+\. ", "", line).strip() in page, line  # HTML numbers its steps with <li value>


def test_wide_names_keep_the_text_tables_columns_aligned():
    from reference import text_table

    text = to_text(real("가중치 = 0.5\n출력 = square(가중치)\ny = exp(출력)\n"))
    table = text_table(text)  # reads each column where its heading starts, in display columns
    assert table["가중치"]["value"] == "0.5" and table["출력"]["made by"] == "square(가중치)"
    assert table["출력"]["value"] == "0.25" and table["y"]["dy/d(name)"] == "1"
    header, *rows = text.split("\n\n")[0].splitlines()
    starts = {display_width(line[:line.index(cell)]) for line, cell in zip(rows[1:], ["0.25", "1.28"])}
    assert starts == {display_width(header[:header.index("value")])}  # every value under its heading


def test_a_terminal_too_narrow_for_the_columns_gets_a_block_per_row():
    text = to_text(real(LOGISTIC), width=32)
    table = text.split("\n\n")[0].splitlines()
    assert table[:3] == ["w  (line 1: 0.5)", "    value: 0.5", "    dloss/d(name): -1"]  # by hand: dloss/dw = -1
    assert all(display_width(line) <= 32 for line in table)


def test_a_stacked_table_says_where_rows_are_left_out():
    cell = "x = 0.5\n" + "".join(f"a{i} = x * {i + 1}.0\n" for i in range(35)) + \
        "y = " + " + ".join(f"a{i}" for i in range(35)) + "\n"
    lines = to_text(real(cell), width=24).split("\n\n")[0].splitlines()
    more = next(i for i, line in enumerate(lines) if "rows not shown" in line)
    names = [line.split()[0] for line in lines if line and not line.startswith(" ") and "(line" in line]
    assert names[:12] == ["x"] + [f"a{i}" for i in range(11)]  # the first 12 rows, then the note, then the last 12
    assert lines[more + 1].startswith(names[12]) and len(names) == 24
    assert lines[more - 1].startswith("    ")  # the note comes after the 12th row's whole block
