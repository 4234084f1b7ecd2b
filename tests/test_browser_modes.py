"""Forward mode and the Hessian in a real JupyterLab (issue 18), light and dark, at 100% and at 150% with
the file browser open: --mode both on the demo's logistic regression, --mode forward with --hessian on
the seed chain and --hessian over two inputs fit the output area (nothing cut at the right), their tables
show the hand-derived numbers, and --step --mode forward steps the tangent: after the third step y is
the node that receives (blue) and b the one it came from (dashed), the step's text is ẏ = 2·b·ḃ and
y's node reads d/dx 3.29744. Screenshots: tests/artifacts/modes-*.png. Uses lab_harness.py; skips
without its tools, unless CI is set."""
from __future__ import annotations

import json

import pytest

import lab_harness
from lab_harness import ARTIFACTS
from test_browser_arrays import JS_MEASURE

pytestmark = pytest.mark.browser

BOTH = ("%%grad --mode both --no-trace\nw = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\n"
        "loss = -(t*log(p) + (1-t)*log(1-p))")
FORWARD = "%%grad --mode forward --hessian\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
HESSIAN = "%%grad --hessian --no-trace\nx = 1.0\ny = 2.0\nf = x**2 * y + y**3"
CELLS = {"both": BOTH, "forward": FORWARD, "hessian": HESSIAN}
# what each shows, by hand: the loss row's tangents are the inputs' adjoints (p − t)·(x, w, 1, 0) at p = ½;
# ẏ = 2b·ḃ = 2e^0.5; f = x²y + y³ at (1, 2): f_xx = 2y = 4, f_xy = 2x = 2, f_yy = 6y = 12
SHOWN = {"both": ["reverse: 1 backward pass gave all 4 input gradients; forward: 4 passes, one per input"],
         "forward": ["ẏ = 2·b·ḃ = 2.56805 × 1.28403 = 3.29744", "x ← x − y′/y″ = 0.5 − 3.29744/13.1898 = 0.25"],
         "hessian": ["second derivatives (--hessian)"]}
TABLES = {"both": {"loss": ["-1", "-0.25", "-0.5", "0", "1"]}, "hessian": {"x": ["4", "2"], "y": ["2", "12"]}}

LOAD = "%load_ext adiff_magic\nimport numpy as np"
STEP = "%%grad --step --mode forward --no-trace\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"


def row_texts(table, name: str) -> list:
    """The cells after the row's name, as shown."""
    rows = table.evaluate("t => Array.from(t.querySelectorAll('tbody tr'), r => Array.from(r.cells, c => c.innerText.trim()))")
    return next((row[1:] for row in rows if row[0] == name), [])


@pytest.mark.parametrize("theme, zoom", [("light", 1.0), ("dark", 1.0), ("light", 1.5), ("dark", 1.5)])
def test_the_two_modes_and_the_hessian_fit_and_show_their_numbers(browser, lab, theme, zoom):
    from playwright.sync_api import expect

    label = f"{theme}-{int(zoom * 100)}"
    path = lab.put(f"modes-{label}", "modes.ipynb", lab_harness.notebook_of(LOAD, *CELLS.values()))
    context, page = lab_harness.open_notebook(browser, lab, path, theme, zoom)
    figures = {}
    try:
        if zoom > 1:
            lab_harness.command(page, "filebrowser:activate")
            expect(page.locator(".jp-FileBrowser")).to_be_visible()
        lab_harness.run_all_cells(page, lab)
        model_cells = lab_harness.cells(page)
        for name, source in CELLS.items():
            cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, source)["index"])
            cell.scroll_into_view_if_needed()
            output = cell.locator(".jp-OutputArea-output")
            expect(output.locator("table").first).to_be_visible(timeout=30_000)
            text = " ".join(output.inner_text().split())
            for sentence in SHOWN[name]:
                assert sentence in text, f"{label} {name}: {sentence!r} not shown"
            table = output.locator(".adiff-hessian table" if name == "hessian" else ".adiff-modes table").first
            for row, cells in TABLES.get(name, {}).items():
                shown = row_texts(table, row)
                assert shown[:len(cells)] == cells if name == "hessian" else shown[-len(cells) - 2:-2] == cells, \
                    f"{label} {name} row {row}: {shown}"
            m = cell.evaluate(JS_MEASURE)
            figures[name] = m
            lab_harness.close_up(page, cell.locator(".jp-Cell-outputArea"), f"modes-{name}-{label}")
            assert m["widest"] <= m["output_width"] + 1, f"{label} {name}: something is cut at the right: {m}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"modes-{label}.json").write_text(json.dumps(figures, indent=1))
        lab_harness.close_notebook(context, page)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_step_mode_forward_pushes_the_tangent_along_the_graph(browser, step_lab, theme):
    from playwright.sync_api import expect

    path = step_lab.put(f"modes-step-{theme}", "forward-step.ipynb", lab_harness.notebook_of(LOAD, STEP))
    context, page = lab_harness.open_notebook(browser, step_lab, path, theme)
    try:
        lab_harness.run_all_cells(page, step_lab)
        model_cells = lab_harness.cells(page)
        cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, "--mode forward")["index"])
        root = cell.locator(".adiff-step-root")
        expect(root).to_be_visible(timeout=30_000)
        assert root.get_attribute("aria-label") == "step through the forward pass: the tangent of x"
        lines = root.locator(".adiff-step-lines")
        expect(lines).to_contain_text("ẋ = 1 seeds the pass")
        following = root.get_by_role("button", name="next step")
        for _ in range(3):
            following.click()
        expect(lines).to_contain_text("ẏ = 2·b·ḃ = 2.56805 × 1.28403 = 3.29744")
        nodes = root.evaluate("""r => Object.fromEntries(Array.from(r.querySelectorAll('.adiff-node[data-kind=variable]'),
            g => [g.querySelector('text').textContent, {cls: g.getAttribute('class'), text: g.textContent}]))""")
        assert "adiff-step-input" in nodes["y"]["cls"], f"y receives the tangent (blue): {nodes['y']}"
        assert "adiff-step-output" in nodes["b"]["cls"], f"b's tangent flows out of it (dashed): {nodes['b']}"
        assert "d/dx 3.29744" in nodes["y"]["text"] and "d/dx 1.28403" in nodes["b"]["text"], nodes
        ARTIFACTS.mkdir(exist_ok=True)
        lab_harness.close_up(page, root, f"modes-step-{theme}")
    finally:
        lab_harness.close_notebook(context, page)
