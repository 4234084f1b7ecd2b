"""The %%grad cell magic, end to end, in a real IPython shell.

Every expected number comes from an independent source: the seed notebook's values, hand
derivations, or formulas and central differences written here with the math module and numpy.
"""
from __future__ import annotations

import math
import os
import base64
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from engine import Function, Variable
from reference import SEED_CELL_5, html_table, text_table

# The seed notebook's numbers for x = 0.5, a = x², b = e^a, y = b² (the seed_cell fixture).
SEED_Y = 1.648721270700128
SEED_DX = 3.297442541400256  # 2·e^0.5
SEED_DA = 3.297442541400256
SEED_DB = 2.568050833375483

# What a user must never see in an error: a traceback or the package's own files.
LEAKS = ("Traceback", "engine/", "engine\\", "adiff_magic/", "adiff_magic\\", "core.py", "runner.py",
         "site-packages", 'File "')

# IPython's own bookkeeping names, which change with every cell.
BOOKKEEPING = re.compile(r"^(_|__|___|_i|_ii|_iii|_ih|_oh|_dh|In|Out|_i\d+|_\d+|_exit_code)$")


# ================================================================ helpers
# (the fixtures ip, grad, seed_cell and wrong_square are in conftest.py)


def run(ip, source):
    """Run a cell as a user would; return (ExecutionResult, captured stdout/stderr/displays)."""
    with capture_output() as captured:
        result = ip.run_cell(textwrap.dedent(source), store_history=True)
    return result, captured


def magic_cell(line, cell):
    return f"%%grad {line}\n{textwrap.dedent(cell)}"


def snapshot(ip):
    """The user's names and the identity of what each holds, without IPython's bookkeeping."""
    return {name: id(value) for name, value in ip.user_ns.items() if not BOOKKEEPING.match(name)}


def table_lines(text):
    """The text rendering's table: the lines before the first blank line."""
    return text.split("\n\n")[0].splitlines()


def assert_no_leaks(text):
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked into the output:\n{text}"


def close(actual, expected, rel=1e-12):
    return np.allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rel, atol=0)


# ================================================================ the seed chain


def test_seed_chain_values_and_gradients(grad, seed_cell):
    result = grad(seed_cell)
    assert result.target == "y"
    assert [row.name for row in result.rows] == ["x", "a", "b", "y"]
    assert float(result.values["x"]) == 0.5
    assert float(result.values["a"]) == 0.25
    assert float(result.values["b"]) == pytest.approx(math.exp(0.25), rel=1e-15)
    assert float(result.values["y"]) == pytest.approx(SEED_Y, rel=1e-15)
    assert float(result.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    assert float(result.grads["x"]) == pytest.approx(2 * math.exp(0.5), rel=1e-15)
    assert float(result.grads["a"]) == pytest.approx(SEED_DA, rel=1e-15)
    assert float(result.grads["b"]) == pytest.approx(SEED_DB, rel=1e-15)
    assert float(result.grads["y"]) == 1.0
    inputs = [row.name for row in result.rows if row.is_input]
    assert inputs == ["x"]
    assert [row.lineno for row in result.rows] == [1, 2, 3, 4]
    assert [row.expression for row in result.rows] == ["0.5", "square(x)", "exp(a)", "square(b)"]


def test_seed_chain_table_text_is_aligned_with_exact_numbers(grad, seed_cell):
    text = repr(grad(seed_cell))
    lines = table_lines(text)
    assert len(lines) == 5  # header + x, a, b, y
    header, rows = lines[0], dict((line.split()[0], line) for line in lines[1:])
    assert "dy/d(name)" in header
    # name, value, gradient first (what a narrow output must not cut), then line and 'made by'
    assert rows["x"].split()[1:3] == ["0.5", "3.297442541400256"]
    assert rows["a"].split()[2] == "3.297442541400256"
    assert rows["b"].split()[2] == "2.568050833375483"
    assert rows["y"].split()[1:3] == ["1.648721270700128", "1"]
    # aligned: each column starts at the same place in every line
    grad_column = header.index("dy/d(name)")
    assert all(row[grad_column - 1] == " " and row[grad_column:].split()[0] == row.split()[2] for row in rows.values())
    made_by = header.index("made by")
    assert rows["a"].index("square(x)") == made_by == rows["b"].index("exp(a)")


def test_seed_chain_steps(grad, seed_cell):
    result = grad(seed_cell)
    steps = result.steps
    assert [s.index for s in steps] == [1, 2, 3]
    assert [s.function for s in steps] == ["Square", "Exp", "Square"]
    assert [s.output for s in steps] == ["y", "b", "a"]
    assert [s.lineno for s in steps] == [4, 3, 2]
    assert [s.source.strip() for s in steps] == ["y = square(b)", "b = exp(a)", "a = square(x)"]
    assert all(s.rule for s in steps)
    assert [float(s.gy[0]) for s in steps] == pytest.approx([1.0, SEED_DB, SEED_DA], rel=1e-15)
    flows = [s.flows for s in steps]
    assert [len(f) for f in flows] == [1, 1, 1]
    assert [f[0].input for f in flows] == ["b", "a", "x"]
    assert [float(f[0].grad) for f in flows] == pytest.approx([SEED_DB, SEED_DA, SEED_DX], rel=1e-15)
    assert [float(f[0].total) for f in flows] == pytest.approx([SEED_DB, SEED_DA, SEED_DX], rel=1e-15)
    assert not any(f[0].accumulated for f in flows)
    # local derivatives: 2b, e^a, 2x
    local = [f[0].local for f in flows]
    assert [loc.value for loc in local] == pytest.approx([2 * math.exp(0.25), math.exp(0.25), 1.0], rel=1e-15)
    text = repr(result)
    assert "backward trace, 3 steps" in text
    assert re.search(r"^     ∂a/∂x = 2·x = 2·0\.5 = 1;  dy/dx = 3\.29744 × 1 = 3\.29744$", text, re.M)


def test_seed_chain_binds_variables_in_the_notebook(ip, seed_cell):
    _, captured = run(ip, "%%grad\n" + seed_cell)
    assert text_table(captured.stdout)["x"]["dy/d(name)"] == "3.297442541400256"
    for name in "xaby":
        assert isinstance(ip.user_ns[name], Variable)
    assert float(ip.user_ns["b"].grad) == pytest.approx(SEED_DB, rel=1e-15)
    _, captured = run(ip, "print(x.grad)")
    assert captured.stdout == "3.297442541400256\n"
    assert captured.stderr == ""


def test_nested_calls_are_labelled_with_their_source(grad):
    result = grad("x = 0.5\ny = square(exp(square(x)))\n")
    assert float(result.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    assert [s.function for s in result.steps] == ["Square", "Exp", "Square"]
    assert [s.output for s in result.steps] == ["y", "exp(square(x))", "square(x)"]
    assert [float(s.gy[0]) for s in result.steps] == pytest.approx([1.0, SEED_DB, SEED_DA], rel=1e-15)
    assert all(s.lineno == 2 for s in result.steps)
    text = repr(result)
    assert "exp(square(x))" in text
    assert re.search(r"(?<!\S)dy/d\(exp\(square\(x\)\)\) = 1 × 2\.56805 = 2\.56805$", text, re.M)
    assert "∂(exp(square(x)))/∂(square(x)) = e^square(x) = e^0.25 = 1.28403" in text  # no double parentheses


def test_the_seed_notebooks_cell_verbatim(ip, grad):
    run(ip, "import numpy as np")
    result = grad(SEED_CELL_5)  # In [5], Korean comment and all
    assert result.target == "y"
    assert float(result.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    assert float(result.grads["b"]) == pytest.approx(SEED_DB, rel=1e-15)
    assert float(result.values["y"]) == pytest.approx(SEED_Y, rel=1e-15)
    assert [s.output for s in result.steps] == ["y", "b", "a"]
    assert type(ip.user_ns["A"]).__name__ == "Square"
    assert ip.user_ns["y"].creator is ip.user_ns["C"]
    _, captured = run(ip, "print(x.grad)")
    assert captured.stdout == "3.297442541400256\n"


# ================================================================ operators, broadcasting, loops


def goldstein_price(x, y):
    return ((1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2))
            * (30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)))


GOLDSTEIN_PRICE_CELL = """\
x = {x}
y = {y}
z = (1 + (x + y + 1)**2 * (19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2)) * (30 + (2*x - 3*y)**2 * (18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))
"""


@pytest.mark.parametrize("x, y", [(1.0, 1.0), (0.5, -0.3), (-1.2, 0.7)])
def test_goldstein_price_with_operators(grad, x, y):
    result = grad(GOLDSTEIN_PRICE_CELL.format(x=x, y=y))
    h = 1e-6
    dx = (goldstein_price(x + h, y) - goldstein_price(x - h, y)) / (2 * h)
    dy = (goldstein_price(x, y + h) - goldstein_price(x, y - h)) / (2 * h)
    assert float(result.values["z"]) == pytest.approx(goldstein_price(x, y), rel=1e-12)
    assert float(result.grads["x"]) == pytest.approx(dx, rel=1e-6)
    assert float(result.grads["y"]) == pytest.approx(dy, rel=1e-6)
    if (x, y) == (1.0, 1.0):  # the book's values: f = 28 · 67, gradient (-5376, 8064)
        assert float(result.values["z"]) == 1876.0
        assert float(result.grads["x"]) == pytest.approx(-5376.0, rel=1e-12)
        assert float(result.grads["y"]) == pytest.approx(8064.0, rel=1e-12)


def test_sphere(grad):
    result = grad("x = 1.0\ny = 1.0\nz = x**2 + y**2\n")
    assert float(result.grads["x"]) == 2.0
    assert float(result.grads["y"]) == 2.0


def test_broadcasting_an_array_and_a_scalar(ip, grad):
    result = grad("""\
    x = np.array([1.0, 2.0, 3.0])
    c = 2.0
    y = x * c + c
    """)
    assert result.grads["x"].shape == (3,)
    assert result.grads["c"].shape == ()
    assert close(result.values["y"], [4.0, 6.0, 8.0])
    assert close(result.grads["x"], [2.0, 2.0, 2.0])  # d sum(x·c + c)/dx = c
    assert close(result.grads["c"], 9.0)  # sum(x) + 3
    assert ip.user_ns["x"].grad.shape == (3,)
    assert np.shape(ip.user_ns["c"].grad) == ()


def test_broadcasting_a_matrix_and_a_row(grad):
    result = grad("""\
    W = np.arange(6.0).reshape(2, 3)
    b = np.array([1.0, 2.0, 3.0])
    y = sum(W * b)
    """)
    assert result.grads["W"].shape == (2, 3)
    assert result.grads["b"].shape == (3,)
    assert close(result.values["y"], 0 * 1 + 1 * 2 + 2 * 3 + 3 * 1 + 4 * 2 + 5 * 3)
    assert close(result.grads["W"], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    assert close(result.grads["b"], [3.0, 5.0, 7.0])  # column sums of W


def test_taylor_series_loop(ip, grad):
    run(ip, "import math")
    x0, terms = 0.7, 6
    result = grad(f"""\
    x = {x0}
    y = 0.0
    for i in range({terms}):
        c = (-1) ** i / math.factorial(2 * i + 1)
        t = c * x ** (2 * i + 1)
        y = y + t
    """)
    assert result.target == "y"  # the last name assigned in the cell
    value = sum((-1) ** i * x0 ** (2 * i + 1) / math.factorial(2 * i + 1) for i in range(terms))
    # the derivative of the same truncated polynomial, by hand: each term's power rule
    derivative = sum((-1) ** i * (2 * i + 1) * x0 ** (2 * i) / math.factorial(2 * i + 1) for i in range(terms))
    assert float(result.values["y"]) == pytest.approx(value, rel=1e-12)
    assert float(result.grads["x"]) == pytest.approx(derivative, rel=1e-12)
    assert float(result.grads["x"]) == pytest.approx(math.cos(x0), abs=1e-9)
    assert float(ip.user_ns["x"].grad) == pytest.approx(derivative, rel=1e-12)
    assert ip.user_ns["i"] == terms - 1


def test_the_target_is_the_last_assignment_not_the_last_statement(ip):
    execution, captured = run(ip, "%%grad\nx = 3.0\ny = square(x)\nz = x * 2.0\nprint('z is', z.data)\nz\n")
    assert execution.success, captured.stderr
    assert re.search(r"^z is 6\.0$", captured.stdout, re.M), captured.stdout
    assert execution.result.target == "z"
    assert float(execution.result.grads["x"]) == 2.0


# ================================================================ the notebook's own names


USER_CUBE = """\
from engine import Function

class Cube(Function):
    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x = self.input.data
        return {factor} * x ** 2 * gy
"""


def test_user_function_subclass_from_an_earlier_cell(ip, grad):
    run(ip, "import numpy as np")
    run(ip, USER_CUBE.format(factor=3))
    result = grad("x = 2.0\nf = Cube()\ny = f(x)\n")
    assert float(result.values["y"]) == 8.0
    assert float(result.grads["x"]) == 12.0  # 3x²
    assert [s.function for s in result.steps] == ["Cube"]
    assert result.steps[0].output == "y"
    assert float(ip.user_ns["x"].grad) == 12.0


def test_notebook_square_takes_precedence_over_the_engines(ip, grad):
    run(ip, "def square(v):\n    return v * v + v\n")
    result = grad("x = 3.0\ny = square(x)\n")
    assert float(result.values["y"]) == 12.0  # 3² + 3, not 9
    assert float(result.grads["x"]) == 7.0  # 2x + 1, not 6
    assert "Square" not in [s.function for s in result.steps]


def test_numbers_from_the_notebook_are_inputs_but_are_not_rebound(ip, grad):
    run(ip, "w = 3.0")
    w = ip.user_ns["w"]
    result = grad("y = w * w + 1.0\n")
    assert float(result.values["y"]) == 10.0
    assert float(result.grads["w"]) == 6.0
    row = next(row for row in result.rows if row.name == "w")
    assert row.is_input and row.lineno is None
    assert "from the notebook" in repr(result)
    assert ip.user_ns["w"] is w
    assert isinstance(ip.user_ns["y"], Variable)


# ================================================================ options


def test_order_2_and_3(ip, grad):
    result = grad("x = 2.0\ny = x**4 - 2*x**2\n", "--order 3")
    # y' = 4x³ - 4x = 24, y'' = 12x² - 4 = 44, y''' = 24x = 48
    assert float(result.grads["x"]) == 24.0
    assert result.derivatives["x"] == pytest.approx([24.0, 44.0, 48.0], rel=1e-12)
    assert float(ip.user_ns["x"].grad) == 24.0  # the name keeps its first derivative
    header = table_lines(repr(result))[0]
    assert "d²y/d(name)²" in header and "d³y/d(name)³" in header
    x_row = next(line for line in table_lines(repr(result)) if line.startswith("x "))
    assert x_row.split()[2:5] == ["24", "44", "48"]  # after the name and value


def test_order_2(grad):
    result = grad("x = 2.0\ny = x**4 - 2*x**2\n", "--order 2")
    assert result.derivatives["x"] == pytest.approx([24.0, 44.0], rel=1e-12)


def test_check_agrees_on_the_seed_chain(grad, seed_cell):
    result = grad(seed_cell, "--check")
    assert result.check["x"] < 1e-6
    assert float(result.numerical["x"]) == pytest.approx(SEED_DX, rel=1e-6)
    text = repr(result)
    header = table_lines(text)[0]
    assert "central difference" in header and "rel. error" in header
    assert "✓" in text
    assert "MISMATCH" not in text


def test_check_flags_a_wrong_user_function(ip, grad):
    run(ip, "import numpy as np")
    run(ip, USER_CUBE.format(factor=2))  # d/dx x³ is 3x², not 2x²
    result = grad("x = 2.0\ny = Cube()(x)\n", "--check")
    assert float(result.grads["x"]) == 8.0
    assert float(result.numerical["x"]) == pytest.approx(12.0, rel=1e-6)
    assert result.check["x"] > result.check_tolerance
    x_row = next(line for line in table_lines(repr(result)) if line.startswith("x "))
    assert "MISMATCH" in x_row
    assert "MISMATCH" in result._repr_html_()


def test_graph_is_a_separate_svg_display_with_png_and_text(ip, seed_cell):
    execution, captured = run(ip, magic_cell("--graph", seed_cell))
    assert execution.success
    assert len(captured.outputs) == 1
    data = captured.outputs[0].data
    assert set(data) == {"image/svg+xml", "image/png", "text/plain"}
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg") and "<script" not in svg
    for text in ("Square", "Exp", "value 0.25", "grad 3.29744", "×1.28403"):  # e^0.25 on the edge a → Exp
        assert text in svg
    assert data["image/png"][:4] == b"\x89PNG"
    # the seed's picture (548 px) shrinks to a narrower output (150% zoom, file browser open): never cut
    assert captured.outputs[0].metadata == {"image/svg+xml": {"unconfined": False}, "image/png": {"unconfined": False}}
    assert "Square" in data["text/plain"] and "x, value 0.5, grad 3.29744 (× 1)" in data["text/plain"]
    assert text_table(captured.stdout)["x"]["dy/d(name)"] == "3.297442541400256"  # the result itself is still shown
    assert execution.result.graph


def test_precision_sets_the_graphs_digits(ip, seed_cell):
    execution, captured = run(ip, magic_cell("--graph --precision 3", seed_cell))
    data = captured.outputs[0].data
    assert "grad 3.3" in data["image/svg+xml"] and "×1.28" in data["image/svg+xml"]
    assert "3.29744" not in data["image/svg+xml"]
    # an explicit --precision reaches the table's scalars too (issue 17: 3 digits asked, 3 digits everywhere)
    assert text_table(captured.stdout)["x"]["dy/d(name)"] == "3.3"
    execution, captured = run(ip, magic_cell("--graph", seed_cell))
    assert text_table(captured.stdout)["x"]["dy/d(name)"] == "3.297442541400256"  # without it: every digit


@pytest.mark.parametrize("line, message", [("--precision 0", "between 1 and 17"), ("--precision 18", "between 1 and 17"),
                                           ("--trace short", "invalid choice")])
def test_bad_view_options_are_one_usage_error(ip, seed_cell, line, message):
    execution, captured = run(ip, magic_cell(line, seed_cell))
    assert not execution.success and message in str(execution.error_in_exec) + captured.stderr


def test_target_option(grad, seed_cell):
    result = grad(seed_cell, "--target b")
    assert result.target == "b"
    assert float(result.grads["b"]) == 1.0
    assert float(result.grads["a"]) == pytest.approx(math.exp(0.25), rel=1e-15)  # db/da = e^a
    assert float(result.grads["x"]) == pytest.approx(math.exp(0.25), rel=1e-15)  # e^a · 2x, x = 0.5
    assert "y" not in result.grads  # b does not depend on y
    assert "db/d(name)" in table_lines(repr(result))[0]


def test_wrt_option(grad):
    result = grad("x = 1.0\ny = 1.0\nz = x**2 + y**2\n", "--wrt x")
    assert float(result.grads["x"]) == 2.0
    assert "y" not in result.grads
    assert "y" not in [row.name for row in result.rows]
    both = grad("x = 1.0\ny = 1.0\nz = x**2 + y**2\n", "--wrt x,y")
    assert float(both.grads["x"]) == float(both.grads["y"]) == 2.0


def test_no_trace_option(grad, seed_cell):
    result = grad(seed_cell, "--no-trace")
    text = repr(result)
    assert text_table(text)["x"]["dy/d(name)"] == "3.297442541400256"
    assert "backward trace" not in text
    assert "backward trace" not in result._repr_html_()
    assert "<table" in result._repr_html_()


def test_quiet_option(ip, grad, seed_cell):
    execution, captured = run(ip, magic_cell("--quiet", seed_cell))
    assert execution.success
    assert captured.stdout == "" and captured.stderr == "" and captured.outputs == []
    assert execution.result is None
    assert float(ip.user_ns["x"].grad) == pytest.approx(SEED_DX, rel=1e-15)
    assert grad(seed_cell, "--quiet") is None


def test_out_option_stores_the_result(ip, grad, seed_cell):
    result = grad(seed_cell, "-o res")
    assert ip.user_ns["res"] is result
    assert float(ip.user_ns["res"].grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    grad(seed_cell, "--quiet --out quiet_res")
    assert float(ip.user_ns["quiet_res"].grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)


def test_lang_ko(grad, seed_cell):
    result = grad(seed_cell, "--lang ko")
    text = repr(result)
    assert "값" in text and "역전파" in text
    assert text_table(text)["x"]["dy/d(name)"] == "3.297442541400256"
    assert "역전파" in result._repr_html_()


@pytest.mark.parametrize("line", ["--plot", "--plot --wrt x"])
def test_plot(ip, seed_cell, line):
    pytest.importorskip("matplotlib")
    execution, captured = run(ip, magic_cell(line, seed_cell))
    assert execution.success
    pngs = [o.data["image/png"] for o in captured.outputs if "image/png" in o.data]
    assert len(pngs) == 1
    png = pngs[0] if isinstance(pngs[0], bytes) else base64.b64decode(pngs[0])
    assert png.startswith(b"\x89PNG")


def test_plot_without_matplotlib_is_a_clean_error(ip, grad, seed_cell, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    before = snapshot(ip)
    with pytest.raises(UsageError, match="matplotlib"):
        grad(seed_cell, "--plot")
    assert snapshot(ip) == before


# ================================================================ what the trace shows


def test_non_scalar_target_says_it_was_seeded_with_ones(grad):
    result = grad("x = np.array([1.0, 2.0, 3.0])\ny = square(x)\n")
    assert close(result.grads["x"], [2.0, 4.0, 6.0])
    assert any("seeded with ones" in note for note in result.notes)
    assert "seeded with ones" in repr(result)
    assert "seeded with ones" in result._repr_html_()


def test_accumulation_is_visible_for_a_branching_graph(grad):
    result = grad("x = 2.0\na = x**2\ny = a**2 + a**2\n")
    assert float(result.values["y"]) == 32.0
    assert float(result.grads["a"]) == 16.0  # 2·2a, a = 4
    assert float(result.grads["x"]) == 64.0  # 16 · 2x
    accumulated = [flow for step in result.steps for flow in step.flows if flow.accumulated]
    assert [flow.input for flow in accumulated] == ["a"]
    assert float(accumulated[0].grad) == 8.0 and float(accumulated[0].total) == 16.0
    assert "dy/da += 1 × 8 = 8  → 16" in repr(result)
    assert "dy/da += 1 × 8 = 8  → 16" in result._repr_html_()


def test_a_long_trace_is_summarised(grad):
    n = 40
    result = grad(f"x = 0.1\ny = sin(x)\nfor i in range({n - 1}):\n    y = sin(y)\n")
    assert len(result.steps) == n  # every step is kept in the result
    # independent: the chain rule by hand, d/dx sin^n(x) = Π cos(sin^k(x))
    value, derivative = 0.1, 1.0
    for _ in range(n):
        derivative *= math.cos(value)
        value = math.sin(value)
    assert float(result.values["y"]) == pytest.approx(value, rel=1e-12)
    assert float(result.grads["x"]) == pytest.approx(derivative, rel=1e-12)
    text = repr(result)
    assert "more steps" in text
    shown = re.findall(r"^\s*\d+\. line \d+  y\S* ?\.creator = Sin\b|^\s*\d+\. line \d+  \S+\.creator = Sin\b", text, flags=re.M)
    assert 0 < len(shown) < n
    assert "more steps" in result._repr_html_()


@pytest.mark.parametrize("cell", [
    "x = -1.0\ny = log(x)\n",
    "x = 0.0\ny = log(x)\n",
    "x = 0.0\ny = sqrt(x)\n",
    "x = 0.0\ny = 1.0 / x\n",
], ids=["log-negative", "log-zero", "sqrt-zero", "divide-by-zero"])
def test_nan_and_inf_are_shown_and_flagged(ip, cell):
    execution, captured = run(ip, "%%grad\n" + cell)
    assert execution.success, captured.stderr
    assert captured.stderr == ""  # no RuntimeWarning from numpy
    assert_no_leaks(captured.stdout)
    result = execution.result
    assert any("nan" in note or "inf" in note for note in result.notes)
    assert "note:" in captured.stdout
    assert "nan" in result._repr_html_() or "inf" in result._repr_html_()


# ================================================================ HTML and the terminal


def test_html_is_plain_and_safe(grad, seed_cell):
    result = grad(seed_cell)
    page = result._repr_html_()
    assert "<table" in page
    for banned in ("<script", "<style", "var(--jp", "javascript:"):
        assert banned not in page
    assert html_table(page)["x"]["dy/d(name)"] == "3.297442541400256"
    assert "square(x)" in page


def test_html_escapes_the_users_text(ip, grad):
    run(ip, 'from engine import Function\n'
            'class Odd(Function):\n'
            '    rule = "<script>alert(1)</script> & <b>"\n'
            '    def forward(self, x):\n'
            '        return 2 * x\n'
            '    def backward(self, gy):\n'
            '        return 2 * gy\n')
    result = grad("x = 0.5\ny = Odd()(x) if x.data < 1 else exp(x)\n")
    assert float(result.grads["x"]) == 2.0
    page = result._repr_html_()
    assert "x.data &lt; 1" in page
    assert "x.data < 1" not in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "&amp; &lt;b&gt;" in page
    assert "x.data < 1" in repr(result)  # the text rendering shows the source as written


def test_terminal_text_plain_only(ip, seed_cell):
    formatter = ip.display_formatter
    saved = formatter.active_types
    formatter.active_types = ["text/plain"]
    try:
        execution, captured = run(ip, "%%grad\n" + seed_cell)
        data, _ = formatter.format(execution.result)
    finally:
        formatter.active_types = saved
    assert execution.success
    assert captured.outputs == []
    assert text_table(captured.stdout)["x"]["dy/d(name)"] == "3.297442541400256"
    assert "<table" not in captured.stdout and "<div" not in captured.stdout
    assert set(data) == {"text/plain"}, f"the terminal still gets {sorted(data)}"


def test_a_real_terminal_ipython(tmp_path, seed_cell):
    session = "\n".join([
        "%load_ext adiff_magic",
        "%%grad",
        seed_cell.rstrip("\n"),
        "", "",  # two empty lines end a cell magic at the simple prompt
        "print(x.grad)",
        "%%grad",
        "x = 0.5",
        "b = sqaure(x)",
        "", "",
        "print('still', x.grad)",
        "exit",
        "",
    ])
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), PYTHONWARNINGS="ignore")
    completed = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--simple-prompt"],
        input=session, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert re.search(r"^\s+value\s+dy/d\(name\)\s+line\s+made by$", completed.stdout, re.M), output
    assert re.search(r"^x\s+0\.5\s+3\.297442541400256\s+1\s+0\.5$", completed.stdout, re.M), output
    assert re.search(r"^b\s+1\.28402541668774\d*\s+2\.568050833375483\s+3\s+exp\(a\)$", completed.stdout, re.M)
    assert "backward trace, 3 steps" in completed.stdout
    # print(x.grad): the number alone after the prompt (the table and the trace end lines with it too)
    assert re.search(r"(?:^|: )3\.297442541400256$", completed.stdout, re.M), output
    assert "UsageError: line 2: unknown function 'sqaure' (did you mean 'square'?)" in output
    # the failed cell changed nothing
    assert re.search(r"(?:^|: )still 3\.297442541400256$", completed.stdout, re.M), output
    assert "<table" not in output and "<div" not in output
    assert_no_leaks(output)


def test_a_real_terminal_ipython_wraps_to_its_width(tmp_path):
    """A 60-column terminal: every line of the trace and the chain rule fits, and no number is split."""
    cell = "w = 0.5\nx = 2.0\nb = -1.0\nz = w*x + b\np = sigmoid(z)\nloss = -log(p)"
    session = "\n".join(["%load_ext adiff_magic", "%%grad", cell, "", "", "exit", ""])
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), PYTHONWARNINGS="ignore", COLUMNS="60")
    completed = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--simple-prompt"],
        input=session, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    shown = completed.stdout.split("Out[2]:", 1)[1].split("\n\n", 1)[1]  # after the table, which never wraps
    lines = [line for line in shown.splitlines() if not line.startswith("In [")]
    assert lines and all(len(line) <= 60 for line in lines if len(line.split()) > 1), shown
    # by hand: z = 0, p = 1/2, dloss/dp = -1/p = -2, dp/dz = 1/4, dz/dw = x = 2: dloss/dw = -1
    assert "∂(w*x)/∂w = x = 2;" in shown and "dloss/dw = -0.5 × 2 = -1" in shown


def test_step_shows_the_static_output_first_and_the_view_under_it(ip, seed_cell):
    pytest.importorskip("anywidget")
    execution, captured = run(ip, magic_cell("--step -o res", seed_cell))
    assert execution.success
    view = execution.result
    assert type(view).__name__ == "StepView" and view.total == 3  # the cell's value is the view
    bundles = [output.data for output in captured.outputs]
    assert html_table(bundles[0]["text/html"])["x"]["dy/d(name)"] == "3.297442541400256"  # the result, above it
    assert float(ip.user_ns["res"].grads["x"]) == pytest.approx(2 * math.exp(0.5), rel=1e-15)


def test_step_without_anywidget_is_one_usage_error_that_changes_nothing(ip, seed_cell, monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget now raises ImportError
    monkeypatch.delitem(sys.modules, "adiff_magic.widget", raising=False)
    ip.user_ns.pop("x", None)
    execution, captured = run(ip, magic_cell("--step", seed_cell))
    assert not execution.success and "--step needs anywidget" in str(execution.error_in_exec)
    assert "x" not in ip.user_ns  # the cell did not run


# ================================================================ errors


ERRORS = [
    # id, option line, cell, fragments the message must contain
    ("syntax-error", "", "q = 0.5\nr = square(q\n", ["line 2", "syntax error", "r = square(q"]),
    ("unknown-function", "", "q = 0.5\nr = sqaure(q)\n",
     ["line 2", "unknown function 'sqaure'", "did you mean 'square'", "r = sqaure(q)"]),
    ("undefined-name", "", "q = 0.5\nr = q * zz\n", ["line 2", "undefined name", "zz", "r = q * zz"]),
    ("string-input", "", "q = 'half'\nr = square(q)\n", ["line 2", "'q'", "str", "r = square(q)"]),
    ("list-input", "", "q = [1.0, 2.0]\nr = square(q)\n", ["line 2", "'q'", "list", "r = square(q)"]),
    ("none-input", "", "q = None\nr = exp(q)\n", ["line 2", "'q'", "None", "r = exp(q)"]),
    ("complex-input", "", "q = 2j\nr = square(q)\n", ["line ", "'q'", "complex"]),
    ("shape-mismatch", "", "q = np.array([1.0, 2.0, 3.0])\np = np.array([1.0, 2.0])\nr = q * p\n",
     ["line 3", "(3,)", "(2,)", "r = q * p"]),
    ("unknown-target", "--target nope", "q = 0.5\nr = square(q)\n", ["--target", "'nope'"]),
    ("target-without-inputs", "", "q = 0.5\nr = np.sin(2.0)\n",
     ["line 2", "the target 'r' (the last name the cell assigns) is an input itself", "engine's functions",
      "r = np.sin(2.0)"]),
    ("numpy-on-a-variable", "", "q = 0.5\nr = np.sin(q)\n", ["line 2", "sin(", "r = np.sin(q)"]),
    ("empty-cell", "", "\n   \n", ["empty"]),
    ("order-on-non-scalar", "--order 2", "q = np.array([1.0, 2.0])\nr = q * q\n", ["--order", "scalar", "'r'"]),
    ("order-zero", "--order 0", "q = 0.5\nr = square(q)\n", ["--order"]),
    ("bad-wrt", "--wrt nope", "q = 0.5\nr = square(q)\n", ["--wrt", "'nope'"]),
    ("unknown-option", "--bogus", "q = 0.5\nr = square(q)\n", ["--bogus"]),
    ("error-raised-by-the-cell", "", "q = 0.5\nr = square(q)\nraise ValueError('boom')\n",
     ["line 3", "ValueError", "boom", "raise ValueError('boom')"]),
    ("error-in-a-function-defined-in-the-cell", "", "def bad(v):\n    return v.nonexistent\nq = 0.5\nr = bad(q)\n",
     ["line ", "nonexistent"]),
    # a cell cannot end the kernel, and Python's compile-time errors name themselves and their line
    ("system-exit", "", "q = 0.5\nr = square(q)\nraise SystemExit\n", ["line 3", "SystemExit", "raise SystemExit"]),
    ("exit-call", "", "q = 0.5\nr = square(q)\nexit()\n", ["line 3", "SystemExit"]),
    ("top-level-return", "", "q = 0.5\nr = square(q)\nreturn r\n", ["line 3", "'return' outside function"]),
    ("top-level-yield", "", "q = 0.5\nyield q\nr = square(q)\n", ["line 2", "'yield' outside function"]),
    ("top-level-await", "", "q = 0.5\nr = await q\n", ["line 2", "'await' outside"]),
    ("top-level-break", "", "q = 0.5\nr = square(q)\nbreak\n", ["line 3", "'break' outside loop"]),
    ("top-level-nonlocal", "", "q = 0.5\nnonlocal q\nr = square(q)\n", ["line 2", "nonlocal"]),
    ("global-after-assignment", "", "q = 0.5\nglobal q\nr = square(q)\n", ["line 2", "global", "'q'"]),
    # numpy and math functions given a Variable say what to use instead
    ("np-sum-of-a-variable", "", "q = np.array([1.0, 2.0])\nr = np.sum(q)\n", ["line 2", "np.sum", "engine's sum", ".data"]),
    ("np-mean-of-a-variable", "", "q = np.array([1.0, 2.0])\nr = np.mean(q * q)\n", ["line 2", "engine's mean"]),
    ("np-float64-of-a-variable", "", "q = 0.5\nr = np.float64(q) * q\n", ["line 2", "float64", ".data"]),
    ("math-sin-of-a-variable", "", "import math\nq = 0.5\nr = math.sin(q)\n", ["line 3", "math.sin", "engine's sin"]),
    ("deleted-target", "", "q = 0.5\nr = square(q)\ndel r\n", ["line 3", "'r'", "del r"]),
    ("bad-out-name", "-o 1bad", "q = 0.5\nr = square(q)\n", ["-o", "'1bad'", "valid Python name"]),
    # IPython's own syntax is named at its line (the cell goes through shell.transform_cell first)
    ("line-magic-inside", "", "q = 0.5\n%time r = square(q)\n", ["line 2", "IPython syntax", "%time"]),
    ("shell-escape-inside", "", "\n\nq = 0.5\n!ls\nr = square(q)\n", ["line 4", "IPython syntax", "!ls"]),
    ("help-inside", "", "q = 0.5\nr = square(q)\nr?\n", ["line 3", "IPython syntax", "r?"]),
]


@pytest.mark.parametrize("line, cell, fragments", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(ip, grad, seed_cell, line, cell, fragments):
    run(ip, "import numpy as np")
    run(ip, "%%grad --quiet\n" + seed_cell)  # the notebook already holds x, a, b, y
    x = ip.user_ns["x"]
    x_grad = float(x.grad)
    before = snapshot(ip)

    # (1) one UsageError naming the line and the offending source
    with pytest.raises(UsageError) as raised:
        grad(cell, line)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
        if fragment[-1].isdigit():  # a number is whole: 'line 2' is not 'line 23'
            assert re.search(re.escape(fragment) + r"(?!\d)", message), f"{fragment!r} not whole in {message!r}"
    assert snapshot(ip) == before

    # (2) what the user sees: the message once, no traceback, no internal files
    execution, captured = run(ip, magic_cell(line, cell))
    assert not execution.success
    assert isinstance(execution.error_in_exec, UsageError)
    seen = captured.stdout + captured.stderr
    assert seen.count("UsageError") == 1, seen
    assert message.splitlines()[0] in seen
    assert_no_leaks(seen)
    assert captured.outputs == []

    # (3) the namespace is exactly as it was
    assert snapshot(ip) == before
    assert ip.user_ns["x"] is x and float(x.grad) == x_grad
    for name in ("q", "p", "r", "bad"):
        assert name not in ip.user_ns

    # (4) the next good cell works
    result = grad("x = 1.0\ny = 1.0\nz = x**2 + y**2\n")
    assert float(result.grads["x"]) == float(result.grads["y"]) == 2.0
    assert float(ip.user_ns["x"].grad) == 2.0


def test_the_seed_cell_after_a_typo(grad, seed_cell):
    """The brief's own example: the message is exactly line, hint and source line."""
    with pytest.raises(UsageError) as raised:
        grad("x = 0.5\nb = sqaure(x)\n")
    assert str(raised.value) == "line 2: unknown function 'sqaure' (did you mean 'square'?)\n    b = sqaure(x)"
    result = grad(seed_cell)
    assert float(result.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)


def test_the_magics_help_documents_every_option(ip):
    help_text = ip.find_cell_magic("grad").__doc__
    for option in ("--out", "--target", "--wrt", "--order", "--check", "--graph", "--plot", "--no-trace",
                   "--quiet", "--lang"):
        assert option in help_text, option
    assert "%%grad" in help_text and "y = square(b)" in help_text
    # the cell's own rules: Python's max/min, integers that count, statement forms
    for rule in ("max(a, b)", "max(x, axis=0)", "count, index, axis or shape", "x = w = 0.5", "(x := 0.5)"):
        assert rule in " ".join(help_text.split()), rule


# ================================================================ options combined (issue 8's wrong numbers)


class Triple(Function):
    """3x, its backward written with engine operations: differentiable again."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        return 3 * gy


class TripleOnArrays(Function):
    """3x, its backward returning a plain array: it cannot be differentiated again."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        return 3 * np.asarray(gy.data if isinstance(gy, Variable) else gy)


@pytest.mark.parametrize("cell, order, expected", [
    ("x = 0.5\ny = 3 * x\n", 3, [3.0, 0.0, 0.0]),
    ("x = 2.0\ny = x * x * x\n", 5, [12.0, 12.0, 6.0, 0.0, 0.0]),  # 3x², 6x, 6, 0, 0
    ("x = 0.5\ny = x + 1\n", 3, [1.0, 0.0, 0.0]),
    ("x = 0.5\ny = square(x)\n", 4, [1.0, 2.0, 0.0, 0.0]),
    ("x = 0.5\ny = relu(x) * x\n", 3, [1.0, 2.0, 0.0]),  # x² for x > 0
    ("x = 0.5\ny = Triple()(x)\n", 3, [3.0, 0.0, 0.0]),
    ("x = 0.0\ny = x ** 1\n", 2, [1.0, 0.0]),
    ("x = 0.0\ny = pow(x, 0)\n", 2, [0.0, 0.0]),
])
def test_order_shows_the_derivatives_that_vanish(ip, grad, cell, order, expected):
    ip.user_ns["Triple"] = Triple
    result = grad(cell, f"--order {order}")
    assert result.derivatives["x"] == expected
    text = table_lines(repr(result))
    assert text[1].split()[2:2 + order] == [format(v, "g") for v in expected]  # after the name and value


def test_order_through_a_backward_on_arrays_says_it_cannot_go_on(ip, grad):
    ip.user_ns["TripleOnArrays"] = TripleOnArrays
    result = grad("x = 0.5\ny = TripleOnArrays()(x)\n", "--order 3")
    assert result.derivatives["x"] == [3.0, None, None]
    x_row = text_table(repr(result))["x"]
    assert [x_row["d²y/d(name)²"], x_row["d³y/d(name)³"]] == ["n/a", "n/a"]
    assert any("TripleOnArrays.backward returned a plain array" in note for note in result.notes)


# ---- --order through a user Function: right, or n/a with a note naming the class (never a wrong number)
# Expected values by hand or sympy at x = 0.5: x³ → 3x², 6x, 6 = 0.75, 3, 6; sinh(x²) → 2x·cosh x²,
# 2cosh x² + 4x²·sinh x², 4x(2x²·cosh x² + 3sinh x²), ...

SINH_X2 = [1.0314130998795732, 2.3154385165673146, 2.547087000728583, 15.660917317061067]  # sympy


class BookCube(Function):
    """x³ as the book writes it: the backward reads .data, so its result cannot be differentiated again."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        return 3 * self.inputs[0].data ** 2 * gy


class Cube(Function):
    """x³ with a backward built from its input's Variable."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x, = self.inputs
        return 3 * x ** 2 * gy


class HalfBookCube(Function):
    """x³ whose backward is right but built partly from .data: 3·x.data·x."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x, = self.inputs
        return 3 * x.data * x * gy


class BookSinh(Function):
    """sinh as the book writes it: cosh of the input's data."""

    def forward(self, x):
        return np.sinh(x)

    def backward(self, gy):
        return np.cosh(self.inputs[0].data) * gy


class Sinh(Function):
    """sinh with a backward built from engine functions of its input."""

    def forward(self, x):
        return np.sinh(x)

    def backward(self, gy):
        from engine import exp
        x, = self.inputs
        return (exp(x) + exp(-x)) / 2 * gy


class Double(Function):
    """2x: its backward does not need its input at all, and is right at every order."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return 2 * gy


class BookReLU(Function):
    """relu as the book writes it: a mask of the input's data, which is right at every order away from 0."""

    def forward(self, x):
        return np.maximum(x, 0.0)

    def backward(self, gy):
        return (self.inputs[0].data > 0) * gy


class BookCos(Function):
    """cos as the book writes it."""

    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        return -np.sin(self.inputs[0].data) * gy


class SinOfBookCos(Function):
    """sin whose backward is a BookCos of its input: right at order 2, not at order 3."""

    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        x, = self.inputs
        return BookCos()(x) * gy


USER_FUNCTIONS = {f.__name__: f for f in (BookCube, Cube, HalfBookCube, BookSinh, Sinh, Double, BookReLU,
                                          BookCos, SinOfBookCos)}


@pytest.mark.parametrize("order", [2, 3])
def test_order_through_a_book_style_backward_is_na_and_says_why(grad, order):
    cell = """
        class Cube(Function):
            def forward(self, x):
                return x ** 3
            def backward(self, gy):
                return 3 * self.inputs[0].data ** 2 * gy
        x = 0.5
        y = Cube()(x)
    """
    result = grad(cell, f"--order {order}")
    assert result.derivatives == {"x": [0.75] + [None] * (order - 1)}  # 3x²; 6x = 3 is not what backprop gives
    row = text_table(repr(result))["x"]
    assert [row["d²y/d(name)²"]] + ([row["d³y/d(name)³"]] if order == 3 else []) == ["n/a"] * (order - 1)
    assert html_table(result._repr_html_())["x"]["d²y/d(name)²"] == "n/a"
    note = next(note for note in result.notes if "stops at order 1" in note)
    assert "Cube.backward" in note and ".data" in note and "'x'" in note
    assert "Cube.backward" in result._repr_html_() and "stops at order 1" in repr(result).replace("\n", " ")


def test_order_through_a_backward_built_from_variables_is_exact(ip, grad):
    ip.user_ns.update(USER_FUNCTIONS)
    result = grad("x = 0.5\ny = Cube()(x)\n", "--order 3")
    assert result.derivatives == {"x": [0.75, 3.0, 6.0]}  # 3x², 6x, 6
    assert not any("stops at order" in note for note in result.notes)
    assert any("through Cube" in note and "checked to follow its inputs" in note for note in result.notes)
    result = grad("x = 0.5\ny = Sinh()(x * x)\n", "--order 4")
    assert result.derivatives["x"] == pytest.approx(SINH_X2, rel=1e-13)


@pytest.mark.parametrize("cell, expected, culprit", [
    ("x = 0.5\ny = BookCube()(x)\n", [0.75, None, None], "BookCube"),
    ("x = 0.5\ny = HalfBookCube()(x)\n", [0.75, None, None], "HalfBookCube"),  # backprop's 3x at order 2 is wrong
    ("x = 0.5\ny = BookSinh()(x * x)\n", [SINH_X2[0], None, None], "BookSinh"),
    ("x = 0.5\ny = SinOfBookCos()(x)\n", [math.cos(0.5), -math.sin(0.5), None], "BookCos"),
    ("x = 0.5\ny = exp(BookCube()(x)) + Cube()(x)\n", [0.75 * math.exp(0.125) + 0.75, None, None], "BookCube"),
    ("x = 0.0\ny = BookCube()(x)\n", [0.0, None, None], "BookCube"),  # 3x², 6x, 6: the third is not 0
    # the incoming gradient is -sin(x³) = 0 here, at every order: cos(x³) = 1 - x⁶/2 + ... has d⁶ = -360, not 0
    ("x = 0.0\ny = cos(BookCube()(x))\n", [0.0, None, None], "BookCube"),
])
def test_order_through_a_backward_on_data_stops_where_it_goes_wrong(ip, grad, cell, expected, culprit):
    ip.user_ns.update(USER_FUNCTIONS)
    result = grad(cell, "--order 3")
    reached = sum(d is not None for d in expected)
    found = result.derivatives["x"]
    assert found[:reached] == pytest.approx(expected[:reached], rel=1e-14) and found[reached:] == expected[reached:]
    note = next(note for note in result.notes if f"stops at order {reached}:" in note)
    assert f"{culprit}.backward" in note


@pytest.mark.parametrize("cell, expected", [
    ("x = 0.5\ny = Double()(x)\n", [2.0, 0.0, 0.0]),
    ("x = 0.5\ny = Double()(x) * x\n", [2.0, 4.0, 0.0]),  # 2x²: 4x, 4, 0
    ("x = 0.5\ny = Cube()(Double()(x))\n", [6.0, 24.0, 48.0]),  # 8x³: 24x², 48x, 48
    ("x = 0.5\ny = BookReLU()(x) * x\n", [1.0, 2.0, 0.0]),  # x² for x > 0: its .data is only a mask
])
def test_order_through_a_user_function_shows_the_derivatives_that_vanish(ip, grad, cell, expected):
    ip.user_ns.update(USER_FUNCTIONS)
    result = grad(cell, "--order 3")
    assert result.derivatives == {"x": expected}
    assert not any("stops at order" in note for note in result.notes)


@pytest.mark.parametrize("function, expected", [("BookCube", [1.5, None]), ("Cube", [1.5, 6.0])])
def test_order_with_check_and_wrt_through_a_user_function(ip, grad, function, expected):
    ip.user_ns.update(USER_FUNCTIONS)
    result = grad(f"x = 0.5\nw = 2.0\ny = {function}()(x) * w\n", "--order 2 --check --wrt x")
    assert result.derivatives == {"x": expected}  # 3x²w, 6xw
    assert result.check_passed == {"x": True}  # the first order is right either way
    assert float(ip.user_ns["w"].grad) == 0.125  # x³, the one ordinary backward pass


def test_order_without_a_user_function_checks_no_backward(grad, monkeypatch):
    import adiff_magic.extras

    def no_check(*args):
        raise AssertionError("an engine function's backward is not run again for --order")

    monkeypatch.setattr(adiff_magic.extras, "_unfollowed", no_check)
    result = grad("x = 0.5\ny = sin(x) * exp(x)\n", "--order 4")
    # sympy, the 1st to 4th: (sin x + cos x)eˣ, 2cos x·eˣ, 2(cos x - sin x)eˣ, -4 sin x·eˣ
    expected = [2.237328119797784, 2.8937780731683382, 1.3128999067411085, -3.1617563328544596]
    assert result.derivatives["x"] == pytest.approx(expected, rel=1e-14)
    assert not any("--order" in note for note in result.notes)


def test_order_with_graph_labels_first_order_gradients(ip, grad):
    result = grad("x = 0.5\na = sin(x)\ny = a * exp(x)\n", "--order 2 --graph")
    first = math.cos(0.5) * math.exp(0.5) + math.sin(0.5) * math.exp(0.5)  # (sin x · eˣ)'
    second = 2 * math.cos(0.5) * math.exp(0.5)  # (sin x · eˣ)'' = 2 cos x · eˣ
    assert result.derivatives["x"] == pytest.approx([first, second], rel=1e-14)
    nodes, _ = result.graph
    by_name = {n[2]: n[4] for n in nodes if n[1] == "variable"}
    assert float(by_name["x"]) == pytest.approx(first, rel=1e-14)
    assert float(by_name["a"]) == pytest.approx(math.exp(0.5), rel=1e-14)  # dy/da = eˣ
    assert float(ip.user_ns["x"].grad) == pytest.approx(first, rel=1e-14)


def test_order_with_wrt_leaves_first_order_gradients_in_the_notebook(ip, grad):
    grad("x = 0.5\nw = 2.0\ny = sin(x*w)\n", "--order 2 --wrt x")
    assert float(ip.user_ns["w"].grad) == pytest.approx(0.5 * math.cos(1.0), rel=1e-15)  # x·cos(xw)
    assert float(ip.user_ns["x"].grad) == pytest.approx(2.0 * math.cos(1.0), rel=1e-15)  # w·cos(xw)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_order_with_check(grad, order):
    result = grad("x = 0.5\ny = sin(x) * exp(x)\n", f"--order {order} --check")
    assert result.check_passed == {"x": True} and len(result.derivatives["x"]) == order


@pytest.mark.parametrize("cell, passed", [
    ("x = 0.0\ny = sqrt(x * x)\n", False),           # backprop: 0·∞ = nan: never a pass
    ("x = np.nan\ny = x * x\n", False),
    ("x = 0.0\ny = relu(x) * x\n", True),            # 0 vs eps/2 = 5e-7: within the absolute floor
    ("x = 0.0\ny = relu(x)\n", False),               # a true kink: 0 vs ½
    ("x = 0.5\ny = square(exp(square(x)))\n", True),
    ("x = 1.5\ny = WrongSquare()(x)\n", False),
])
def test_check_verdicts(ip, grad, wrong_square, cell, passed):
    ip.user_ns["WrongSquare"] = wrong_square
    result = grad(cell, "--check")
    assert result.check_passed == {"x": passed}
    flag = table_lines(repr(result))[1]
    assert ("✓" in flag) == passed and ("MISMATCH" in flag) == (not passed)


def test_plot_after_augmented_assignment_draws_the_final_value(grad):
    pytest.importorskip("matplotlib")
    result = grad("x = 0.5\ny = square(x)\ny += 1\n", "--plot")
    assert float(result.values["y"]) == 1.25 and result.plot_png.startswith(b"\x89PNG")


@pytest.mark.parametrize("line", ['--wrt "x, w"', "--wrt 'x,w'", "--wrt x,w", '--wrt "x,  w"'])
def test_wrt_accepts_quotes_and_spaces(grad, line):
    result = grad("x = 0.5\nw = 2.0\nv = 1.0\ny = x * w * v\n", line)
    assert {row.name for row in result.rows if row.is_input} == {"x", "w"}


def test_sigmoid_loss_far_out(grad):
    result = grad("z = -38.0\nloss = -log(sigmoid(z))\n")
    assert float(result.values["loss"]) == pytest.approx(38.0, rel=1e-15)  # log(1 + e³⁸) = 38 + log(1 + e⁻³⁸)
    assert float(result.grads["z"]) == pytest.approx(-1.0, rel=1e-15)  # −(1 − σ(z))


def test_pasted_prompts_are_dropped_as_ipython_does(grad):
    result = grad(">>> x = 0.5\n>>> y = square(x)\n")
    assert float(result.grads["x"]) == 1.0


def test_line_numbers_survive_leading_blank_lines(grad):
    with pytest.raises(UsageError, match="^line 4: "):
        grad("\n\nx = 0.5\ny = sqaure(x)\n")


def test_a_long_pass_shows_a_progress_line(grad, monkeypatch):
    from adiff_magic import progress
    monkeypatch.setattr(progress.ProgressLine.__init__, "__defaults__", (0.0, 0.0))  # show from the start
    with capture_output() as captured:
        result = grad("x = np.array([1.0, 2.0, 3.0])\nw = 0.5\ny = sum(x * w)\n", "--check --order 1 --no-trace")
    texts = [o.data["text/plain"] for o in captured.outputs]
    # 3 + 1 central differences; the last line always shows
    assert any(re.fullmatch(r"--check: central differences: 4 of 4 \(\d+\.\d s\)", t) for t in texts), texts
    assert result.check_passed == {"x": True, "w": True}


def test_a_quick_cell_shows_no_progress_line(grad, seed_cell):
    with capture_output() as captured:
        grad(seed_cell, "--check --order 3 --no-trace")
    assert not any("of" in o.data.get("text/plain", "") and "central" in o.data.get("text/plain", "")
                   for o in captured.outputs)


def test_help_is_plain_text_with_the_usage_as_typed(ip):
    help_text = ip.find_cell_magic("grad").__doc__
    assert "\n  %%grad [-o NAME]" in help_text and "%grad [" not in help_text.replace("%%grad [", "")
    assert "::" not in help_text and "``" not in help_text


# ================================================================ messages that name the real cause
# (the error cells themselves are in tests/data/bad_cells.json; here what the corpus cannot express)


def test_a_notebook_function_instance_called_once_per_run_can_be_run_again(ip, grad):
    """A Function records one call per %%grad run: running the same cell again is not a second call."""
    run(ip, "from engine import Square\nA = Square()")
    for _ in range(2):
        result = grad("x = 0.5\na = A(x)\n")
        assert float(result.grads["x"]) == 1.0


def test_named_clip_bounds_stay_plain_numbers(ip, grad):
    result = grad("x = 0.5\nlo = 0.0\nhi = 1.0\ny = clip(x, lo, hi)\n")
    assert float(result.grads["x"]) == 1.0
    assert [row.name for row in result.rows if row.is_input] == ["x"]
    assert ip.user_ns["lo"] == 0.0 and ip.user_ns["hi"] == 1.0 and not isinstance(ip.user_ns["hi"], Variable)
    keywords = grad("x = 2.0\nlo = -1.0\nhi = 1.0\ny = clip(x * 3, x_min=lo, x_max=hi)\n")
    assert float(keywords.grads["x"]) == 0.0  # 6 is clipped to 1
    assert "hi" not in keywords.grads


@pytest.mark.parametrize("line", ["--wrt x#1", "--wrt 'x#1'", "--wrt x#1,w", "--wrt x#1, w"])
def test_wrt_takes_the_labels_of_earlier_bindings(grad, line):
    result = grad("x = 1.0\nw = 3.0\nx = x * 2\ny = x * w\n", line)
    assert float(result.grads["x#1"]) == 6.0  # y = 2·x#1·w
    inputs = {row.name for row in result.rows if row.is_input}
    assert inputs == ({"x#1", "w"} if line.endswith("w") else {"x#1"})


@pytest.mark.parametrize("line", ["--wrt x, w", "--wrt x , w", "--wrt x ,w", "--wrt x, w --check", "--wrt x,  w -o r"])
def test_wrt_with_spaces_after_commas_unquoted(grad, line):
    result = grad("x = 0.5\nw = 2.0\nv = 1.0\ny = x * w * v\n", line)
    assert {row.name for row in result.rows if row.is_input} == {"x", "w"}


@pytest.mark.parametrize("line", ["-o x", "--out y", "-o i"])
def test_out_refuses_a_name_the_cell_binds(ip, grad, line):
    run(ip, "x = 7.0")
    before = snapshot(ip)
    with pytest.raises(UsageError) as raised:
        grad("x = 0.5\nfor i in range(2):\n    x = sin(x)\ny = x * 2\n", line)
    name = line.split()[-1]
    message = str(raised.value)
    assert message.startswith(f"-o/--out: the cell binds '{name}' itself"), message
    assert "-o result" in message
    assert snapshot(ip) == before and ip.user_ns["x"] == 7.0


def test_out_may_name_what_the_cell_only_reads(ip, grad):
    run(ip, "w = 2.0")
    result = grad("x = 0.5\ny = x * w\n", "-o w")
    assert ip.user_ns["w"] is result


def test_a_picture_wider_than_840_px_scrolls_and_a_narrower_one_shrinks():
    from adiff_magic.magic import _picture_metadata

    assert _picture_metadata('<svg xmlns="http://www.w3.org/2000/svg" width="830" height="5140">') == \
        {"image/svg+xml": {"unconfined": False}, "image/png": {"unconfined": False}}
    assert _picture_metadata('<svg xmlns="http://www.w3.org/2000/svg" width="984.5" height="94">') == \
        {"image/svg+xml": {"unconfined": True}, "image/png": {"unconfined": True}}


# ================================================================ --mode and --hessian with the other options

TWO_INPUTS = "x = 0.7\nw = -1.3\nif x > 0:\n    h = tanh(w * x)\nelse:\n    h = w\ny = h * h + sin(x)"
MODE_LINES = ["--mode forward", "--mode both", "--mode reverse"]
WITH = ["", "--hessian", "--order 2", "--check", "--graph", "--wrt x", "--hessian --wrt w", "--order 3 --hessian --check"]


def two_inputs_by_hand() -> tuple:
    """(dy/dx, dy/dw, [[y_xx, y_xw], [y_wx, y_ww]]) of y = tanh²(wx) + sin x, by the chain rule by hand:
    with s = tanh u, u = wx: (s²)′ = 2s(1 − s²) =: g(u), g′(u) = 2(1 − s²)(1 − 3s²)."""
    x, w = 0.7, -1.3
    s = math.tanh(w * x)
    g = 2 * s * (1 - s * s)
    dg = 2 * (1 - s * s) * (1 - 3 * s * s)
    return (g * w + math.cos(x), g * x,
            [[dg * w * w - math.sin(x), dg * w * x + g], [dg * x * w + g, dg * x * x]])


@pytest.mark.parametrize("mode", MODE_LINES)
@pytest.mark.parametrize("extra", WITH)
def test_mode_and_hessian_combine_with_every_option_and_change_no_other_number(ip, mode, extra):
    dx, dw, h = two_inputs_by_hand()
    with capture_output():
        result = ip.run_cell_magic("grad", f"{mode} {extra} -o r", TWO_INPUTS)
    shown = ["x"] if "--wrt x" in extra else ["w"] if "--wrt w" in extra else ["x", "w"]
    expected = {"x": dx, "w": dw}
    for name in shown:  # the table's gradients and the notebook's .grad: the one ordinary backward
        assert float(result.grads[name]) == pytest.approx(expected[name], rel=1e-12)
        assert float(ip.user_ns[name].grad) == pytest.approx(expected[name], rel=1e-12)
    if mode != "--mode reverse":
        assert sorted(result.tangents) == sorted(shown)
        for name in shown:
            assert float(result.tangents[name]["y"]) == pytest.approx(expected[name], rel=1e-12)
    else:
        assert result.modes is None and result.tangents == {}
    if "--hessian" in extra:
        index = {"x": 0, "w": 1}
        for a in shown:
            for b in shown:
                assert result.hessian[(a, b)] == pytest.approx(h[index[a]][index[b]], rel=1e-10)
        assert (result.second.newton() is None) == (len(shown) > 1)
    else:
        assert result.hessian == {} and result.second is None
    if "--order" in extra and "x" in shown:
        assert result.derivatives["x"][1] == pytest.approx(h[0][0], rel=1e-10)
    if "--check" in extra:
        assert all(result.check_passed.values())


def test_a_bad_mode_is_one_usage_error(ip, seed_cell):
    with pytest.raises(UsageError, match="argument --mode: invalid choice: 'sideways'"):
        ip.run_cell_magic("grad", "--mode sideways", seed_cell)


def test_plot_in_a_terminal_goes_to_a_file_whose_path_is_printed():
    from adiff_magic.magic import plot_text

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    assert plot_text(png, terminal=False) == "<plot of the target and its tangent>"
    text = plot_text(png, terminal=True)
    path = re.search(r": (\S+\.png) ", text).group(1)
    try:
        with open(path, "rb") as file:
            assert file.read() == png
        assert "open it in an image viewer" in text
    finally:
        os.remove(path)


def test_quiz_needs_step(ip, seed_cell):
    with pytest.raises(UsageError, match="--quiz asks its questions in the --step view: use --step --quiz"):
        ip.run_cell_magic("grad", "--quiz", seed_cell)
