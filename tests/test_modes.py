"""The views of forward mode and of the Hessian (adiff_magic/modes.py): the same numbers in the text and
the HTML, the pass sentences in the cell's letters, the pass counts each way round, the Newton step, and
every view bounded whatever the cell does. Expected numbers are worked out by hand beside each test."""
from __future__ import annotations

import re

import numpy as np
import pytest

from adiff_magic.fmt import display_width
from adiff_magic import modes
from adiff_magic.modes import dotted
from adiff_magic.parser import parse
from adiff_magic.render import to_html, to_text
from adiff_magic.result import View
from adiff_magic.runner import Options, run
from reference import html_table, text_table

LOGREG = "w = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\nloss = -(t*log(p) + (1-t)*log(1-p))"
SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
MLP = ("x = np.array([[0.5, -1.0]])\nW1 = np.array([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]])\n"
       "b1 = np.array([0.01, 0.02, 0.03])\nh = tanh(matmul(x, W1) + b1)\nW2 = np.array([[0.7], [-0.8], [0.9]])\n"
       "y = matmul(h, W2)\nt = np.array([[1.0]])\nloss = mean((y - t) ** 2)")


def result_of(cell: str, mode: str = "both", hessian: bool = False, **view):
    result, _ = run(parse(cell), {"np": np}, Options(mode=mode, hessian=hessian, view=View(mode=mode, **view)))
    return result


# ================================================================ the table


def test_the_both_table_holds_value_tangents_and_adjoint_in_text_and_html():
    """At w = 0.5, x = 2, b = −1, t = 1: z = 0, p = ½; ż = x·ẇ + w·ẋ + ḃ; ṗ = p(1 − p)·ż = ż/4;
    loss = −log p, so dloss/dp = −1/p = −2 and d loss = −2·ṗ; adjoints dloss/dz = p − t = −½."""
    result = result_of(LOGREG)
    expected = {
        "z": {"d/dw": "2", "d/dx": "0.5", "d/db": "1", "d/dt": "0", "dloss/d(name)": "-0.5"},
        "p": {"d/dw": "0.5", "d/dx": "0.125", "d/db": "0.25", "d/dt": "0", "dloss/d(name)": "-2"},
        "loss": {"d/dw": "-1", "d/dx": "-0.25", "d/db": "-0.5", "d/dt": "0", "dloss/d(name)": "1"},
        "w": {"d/dw": "1", "d/dx": "0", "d/db": "0", "d/dt": "0", "dloss/d(name)": "-1"},
    }
    for table in (text_table(to_text(result)), html_table(to_html(result))):
        for name, cells in expected.items():
            assert {k: table[name][k] for k in cells} == cells, name
        assert table["loss"]["value"] == "0.6931471805599453"  # log 2, every digit as the main table
    assert "backward trace" in to_text(result)  # both modes: the backward pass is still shown


def test_forward_mode_replaces_the_backward_trace_and_the_chain_rule():
    text = to_text(result_of(SEED, "forward"))
    assert "backward trace" not in text and "chain rule" not in text and "dy/d(name)" not in text
    assert "pass 1 of 1: ẋ = 1" in text


def test_a_cell_of_arrays_gets_its_first_elements_column_and_a_note_says_where_the_rest_are():
    result = result_of(MLP)
    text = " ".join(to_text(result).split())
    assert "d/dx[0,0]" in text and "d/dW1" not in text
    assert "(tangent columns for 1 of the 15 passes; result.tangents has them all" in text
    assert "result.tangents['x[0,1]']" in text
    assert "reverse: 1 backward pass gave the gradients of all 15 input elements; forward: 15 passes, one per input element" \
        in text
    # the loss row in x[0,0]'s pass is dloss/dx[0,0], the first element of the network's gradient
    assert html_table(to_html(result))["loss"]["d/dx[0,0]"] == repr(float(result.grads["x"][0, 0]))


# ================================================================ the passes


def test_each_pass_writes_each_line_in_the_cells_letters():
    text = " ".join(to_text(result_of(SEED, "forward")).split())
    # ȧ = 2x·ẋ = 1; ḃ = e^a·ȧ = e^0.25 = 1.28403; ẏ = 2b·ḃ = 2e^0.25 · e^0.25 = 2e^0.5 = 3.29744
    assert "line 2: ȧ = 2·x·ẋ = 1 × 1 = 1" in text
    assert "line 3: ḃ = e^a·ȧ = 1.28403 × 1 = 1.28403" in text
    assert "line 4: ẏ = 2·b·ḃ = 2.56805 × 1.28403 = 3.29744" in text
    assert "→ dy/dx = 3.29744; reverse mode gives 3.29744 ✓" in text
    logreg = " ".join(to_text(result_of(LOGREG, "forward")).split())
    assert "line 5: ż = ∂z/∂w·ẇ + ∂z/∂x·ẋ + ∂z/∂b·ḃ = 2 × 1 + 0.5 × 0 + 1 × 0 = 2" in logreg
    assert "line 6: ṗ = p·(1 - p)·ż = 0.25 × 2 = 0.5" in logreg
    assert "line 7: dloss/dw = ∂loss/∂t·ṫ + ∂loss/∂p·ṗ = 0 × 0 + (-2) × 0.5 = -1" in logreg


def test_a_rule_with_a_sum_is_grouped_before_the_tangent():
    text = " ".join(to_text(result_of("x = 0.5\ny = tanh(x)", "forward")).split())
    assert "ẏ = (1 - y²)·ẋ" in text  # not 1 - y²·ẋ


@pytest.mark.parametrize("name, seed, shown", [("x", "x", "ẋ"), ("W1", "W1", "Ẇ1"), ("loss", "w", "dloss/dw"),
                                                ("y#2", "x", "d(y#2)/dx"), ("b", "W1[0,1]", "ḃ")])
def test_tangent_names(name, seed, shown):
    assert dotted(name, seed) == shown


# ================================================================ the counts


@pytest.mark.parametrize("cell, words", [
    (LOGREG, "reverse: 1 backward pass gave all 4 input gradients; forward: 4 passes, one per input"),
    ("x = 0.5\ny = x * np.array([1.0, 2.0, 3.0])",
     "forward: 1 pass gave the derivatives of all 3 elements of y; reverse: 3 passes, one per element of y"),
    ("x = 0.5\nw = 2.0\ny = x * w * np.array([1.0, 2.0, 3.0])",
     "for the whole Jacobian (3 × 2): forward needs 2 passes (one per input), reverse 3 (one per element of y): "
     "forward needs fewer"),
    (SEED, "reverse: 1 backward pass; forward: 1 pass (one input and one output: the two cost the same)"),
])
def test_the_pass_counts_each_way_round(cell, words):
    text = " ".join(to_text(result_of(cell)).split())
    assert words in text
    assert "Forward and reverse gradients: they agree" in text


def test_a_disagreement_is_said():
    from dataclasses import replace

    result = result_of(SEED)
    wrong = replace(result, modes=replace(result.modes, difference=0.25))
    assert "✗ they DIFFER (largest relative difference 2.5e-01)" in " ".join(to_text(wrong).split())


# ================================================================ the Hessian


def test_the_hessian_table_and_one_newton_step():
    """y = x⁴ − 2x² at x = 2: y′ = 4x³ − 4x = 24, y″ = 12x² − 4 = 44; x − y′/y″ = 2 − 24/44 = 1.45455."""
    result = result_of("x = 2.0\ny = x**4 - 2*x**2", "reverse", hessian=True)
    text = to_text(result)
    assert "one Newton step (the book's step 33): x ← x − y′/y″ = 2 − 24/44 = 1.45455" in text
    assert re.search(r"^  x\s+44$", text, re.M)
    html = to_html(result)
    assert "<th><code>x</code></th><td>44</td>" in html and "2 − 24/44 = 1.45455" in html


def test_mixed_partials_in_the_table():
    """f = x²y + y³ at (1, 2): f_xx = 2y = 4, f_xy = 2x = 2, f_yy = 6y = 12."""
    result = result_of("x = 1.0\ny = 2.0\nf = x**2 * y + y**3", "reverse", hessian=True)
    lines = to_text(result).splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == ["x", "y"])
    assert [line.split() for line in lines[start + 1:start + 3]] == [["x", "4", "2"], ["y", "2", "12"]]
    assert "Newton" not in to_text(result)  # written for a single input


def test_no_newton_step_where_the_second_derivative_is_zero():
    text = to_text(result_of("x = 1.0\ny = 3 * x", "reverse", hessian=True))
    assert "no Newton step: y″ = 0 at x = 1" in text


def test_a_large_hessian_shows_its_corner_and_says_so():
    cell = "\n".join(f"x{i} = {i + 1}.0" for i in range(12)) + "\ny = " + " + ".join(f"x{i}**2" for i in range(12))
    result = result_of(cell, "reverse", hessian=True)
    text = to_text(result)
    assert "(the first 8 of the 12 inputs; result.hessian has every pair)" in text
    assert result.hessian[("x11", "x11")] == 2.0 and result.hessian[("x0", "x11")] == 0.0


# ================================================================ bounded, whatever the cell does


def test_a_long_loop_is_summarised_in_the_table_and_the_pass():
    cell = "x = 0.5\ny = x\nfor k in range(2000):\n    y = y * 0.999 + x"
    result = result_of(cell, "both")
    text = to_text(result)
    forward = text.split("backward trace")[0]
    assert len(forward.splitlines()) < 90
    assert "… 1,976 lines not shown (result.tangents has every line's tangent) …" in text  # 2,001 rows, 2,000 lines
    assert len(result.tangents["x"]) == 2002  # every binding's tangent is kept: x, y#1 … y#2000, y
    assert len(to_html(result)) < 60_000


def test_many_inputs_give_a_few_columns_and_a_few_passes_written():
    cell = "\n".join(f"x{i} = 0.{i + 1}" for i in range(200)) + "\ny = " + " + ".join(f"x{i}*x{i}" for i in range(200))
    result = result_of(cell, "forward")
    text = to_text(result)
    assert "(tangent columns for 4 of the 200 passes" in text
    assert "(196 more passes not written out; result.tangents has them all)" in text
    assert len(re.findall(r"^pass \d+ of 200: ", text, re.M)) == 4
    assert len(result.tangents) == 200 and result.modes.difference == 0.0


@pytest.mark.parametrize("width", [60, 80, 100])
def test_no_line_is_wider_than_the_output(width):
    for cell, mode in ((LOGREG, "both"), (MLP, "both"), (SEED, "forward")):
        result = result_of(cell, mode, hessian=cell != MLP)
        lines = "\n".join(modes.text_parts(result, width)).splitlines()
        assert len(lines) > 5
        too_wide = [line for line in lines if display_width(line) > width]
        assert not too_wide, too_wide


def test_korean_words():
    text = to_text(result_of(SEED, "forward", hessian=True, lang="ko"))
    assert "전진 모드 forward mode" in text and "뉴턴 한 걸음" in text and "패스 pass 1/1" in text
    assert "패스 수 (역전파 reverse / 전진 forward): reverse: 1 backward pass" in text


def test_a_cell_of_arrays_writes_its_first_elements_pass():
    """Softmax cross-entropy: dloss/dz = p − t, so in the pass of z[0,0] the loss moves by p₀ − t₀ = p₀."""
    cell = "z = np.array([[1.0, 2.0, 0.5]])\nt = np.array([[0.0, 1.0, 0.0]])\np = softmax(z)\nloss = -(t * log(p)).sum()"
    result = result_of(cell, "forward")
    p0 = float(np.exp(1.0) / np.exp([1.0, 2.0, 0.5]).sum())
    text = " ".join(to_text(result).split())
    assert "pass 1 of 6: ż[0,0] = 1" in text
    assert f"→ dloss/dz[0,0] = {p0:.6g}; reverse mode gives {p0:.6g} ✓" in text
    assert "(5 more passes not written out; result.tangents has them all)" in text
    table = text_table(to_text(result))
    assert table["z"]["d/dz[0,0]"] == "[[1 0 0]]" and table["loss"]["d/dz[0,0]"] == repr(p0)


def test_a_line_of_many_operands_writes_those_that_move():
    """y = Σ sin(xᵢ)·xᵢ₊₁ over 10 inputs: in x0's pass only x0 moves; ∂y/∂x0 = cos(x0)·x1 + sin(x9)."""
    n = 10
    cell = "".join(f"x{i} = 0.{i + 1}\n" for i in range(n - 1)) + f"x{n - 1} = 1.0\n" + \
        "y = " + " + ".join(f"sin(x{i}) * x{(i + 1) % n}" for i in range(n))
    partial = np.cos(0.1) * 0.2 + np.sin(1.0)
    text = " ".join(to_text(result_of(cell, "forward")).split())
    assert f"ẏ = ∂y/∂x0·ẋ0 = {partial:.6g} × 1 = {partial:.6g} (9 other operands do not move in this pass: " \
           "their terms are 0)" in text
