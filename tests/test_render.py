"""Tests for adiff_magic.render: text and HTML from a GradResult built by hand."""
import re

import numpy as np

from adiff_magic.render import TRACE_HEAD, fmt_array, graph_bundle, to_html, to_text
from adiff_magic.result import GradResult, Row, View
from adiff_magic.trace import BackwardStep, Flow


def seed_result(**changes) -> GradResult:
    """The seed chain's result, with numbers from ARCHITECTURE.md's reference table."""
    rows = (
        Row("x", 1, "0.5", np.array(0.5), np.array(3.297442541400256), True),
        Row("a", 2, "square(x)", np.array(0.25), np.array(3.297442541400256), False),
        Row("b", 3, "exp(a)", np.array(1.2840254166877414), np.array(2.568050833375483), False),
        Row("y", 4, "square(b)", np.array(1.648721270700128), np.array(1.0), False),
    )
    step = BackwardStep(1, "Square", "y", 4, "y = square(b)", (np.array(1.0),), "d/dx x² = 2x",
                        (Flow("b", "2·1.2840254166877414 = 2.568050833375483", np.array(2.568050833375483),
                              False, np.array(2.568050833375483)),))
    fields = dict(target="y", rows=rows, steps=(step,), values={r.name: r.value for r in rows},
                  grads={r.name: r.grad for r in rows})
    fields.update(changes)
    return GradResult(**fields)


def test_text_table_is_aligned_and_holds_the_numbers():
    text = to_text(seed_result())
    table = text.split("\n\n")[0].splitlines()
    assert table[0].split() == ["line", "made", "by", "value", "dy/d(name)"]
    assert table[1].split() == ["x", "1", "0.5", "0.5", "3.297442541400256"]
    assert table[4].split() == ["y", "4", "square(b)", "1.648721270700128", "1"]
    value_column = table[0].index("value")
    grad_column = table[0].index("dy/d(name)")
    values = ["0.5", "0.25", "1.2840254166877414", "1.648721270700128"]
    grads = ["3.297442541400256", "3.297442541400256", "2.568050833375483", "1"]
    for line, value, grad in zip(table[1:], values, grads):
        assert line[value_column:].startswith(value) and line[grad_column:] == grad


def test_text_trace_shows_the_seeds_three_steps():
    text = to_text(seed_result())
    assert "  1. Square.backward  (line 4: y = square(b))" in text
    assert "creator   y.creator = Square" in text and "input     Square.input = b" in text
    assert "incoming  dy/dy = 1" in text and "rule      d/dx x² = 2x" in text
    assert "local     ∂y/∂b = 2·1.2840254166877414 = 2.568050833375483" in text
    assert "passes    b.grad = 1 × 2.568050833375483 = 2.568050833375483" in text


def test_html_has_the_same_numbers_and_no_script_style_or_theme_variables():
    result = seed_result()
    page = to_html(result)
    assert page.count("<tr>") >= 5 and '<table class="adiff-table">' in page
    for number in ("3.297442541400256", "2.568050833375483", "1.648721270700128"):
        assert number in page and number in to_text(result)
    for forbidden in ("<script", "<style", "var(--jp"):
        assert forbidden not in page
    assert set(re.findall(r'style="([^"]*)"', page)) == {"text-align:left"}  # kept by JupyterLab's sanitiser


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
    assert len(re.findall(r"^  \d+\. Square\.backward", text, re.M)) == 2 * TRACE_HEAD


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


def test_graph_bundle_has_mermaid_and_the_same_graph_as_text():
    nodes = (("n1", "function", "Square", None, None), ("n2", "variable", "x", np.array(0.5), np.array(1.0)),
             ("n3", "variable", "a", np.array(0.25), np.array(1.0)))
    bundle = graph_bundle(seed_result(graph=(nodes, (("n2", "n1"), ("n1", "n3")))))
    assert bundle["text/vnd.mermaid"].startswith("flowchart LR")
    assert "n2 --> n1" in bundle["text/vnd.mermaid"] and "n1 --> n3" in bundle["text/vnd.mermaid"]
    assert "x, value 0.5, grad 1  ->  Square  ->  a, value 0.25, grad 1" in bundle["text/plain"]


def test_mermaid_labels_cannot_break_out_of_their_quotes():
    nodes = (("n1", "variable", 'x"]; click n1 call alert(1) %% <img src=x>', np.array(1.0), None),)
    mermaid = graph_bundle(seed_result(graph=(nodes, ())))["text/vnd.mermaid"]
    label = mermaid.split("\n")[1]
    assert label.count('"') == 2 and "<img" not in label and "#quot;" in label and "#lt;img" in label
