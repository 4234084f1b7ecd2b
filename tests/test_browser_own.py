"""%%grad over the seed notebook's own DeZero classes in a real JupyterLab (Chromium): table, ✓ checks, --graph, and --step with a wrong backward flagged ✗."""
from __future__ import annotations

import importlib.util
import urllib.parse
import xml.etree.ElementTree as ET
from base64 import b64decode

import pytest

import lab_harness
from lab_harness import cell_dom, cells, close_up, panel, screenshots
from reference import seed_notebook_cells

pytestmark = pytest.mark.browser

DY_DX = "3.297442541400256"  # the seed notebook's printed x.grad: 2·e^0.5
SEED = [source for source, _ in seed_notebook_cells()]
PRINTED = {6: DY_DX, 13: DY_DX, 15: DY_DX}  # seed cell number (1-based) -> what it printed
CELL15 = SEED[14]
# the seed's Exp (cell 4 / 9) with the `* gy` forgotten in its backward
WRONG_EXP = ("class Exp(Function):\n    def forward(self, x):\n        y = np.exp(x)\n        return y\n\n"
             "    def backward(self, gy):\n        x = self.input.data\n        gx = np.exp(x)\n        return gx\n")
GRAD = "%%grad\n" + CELL15
GRAPH = "%%grad --graph --no-trace\n" + CELL15
STEP = "%%grad --step --no-trace -o res\n" + CELL15
STEP_WRONG = "%%grad --step --no-trace -o res2\n" + CELL15
# notebook cell index: 0 is %load_ext, seed cell k is at index k, then these
I_GRAD, I_GRAPH, I_STEP, I_WRONG_EXP, I_STEP_WRONG = 16, 17, 18, 19, 20
ROOT = ".adiff-step-root"
# the backward pass of y = C(b), b = B(a), a = A(x): the header of the text panel at each step
HEADERS = ["y.creator = Square", "b.creator = Exp", "a.creator = Square"]
SVG = "{http://www.w3.org/2000/svg}"


def own_notebook() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    sources = ["%load_ext adiff_magic", *SEED, GRAD, GRAPH, STEP, WRONG_EXP, STEP_WRONG]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def own_lab(lab):
    """The session's JupyterLab (conftest), once anywidget and the widget frontend are known to be there."""
    missing = [f"python package {name}" for name in ("anywidget", "ipywidgets", "jupyterlab_widgets")
               if importlib.util.find_spec(name) is None]
    if missing:
        message = "the own-classes browser test needs " + ", ".join(missing)
        if lab_harness._ci():
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(message)
    return lab


def stdout(cell: dict) -> str:
    return "".join(o["text"] for o in cell["outputs"] if o["type"] == "stream" and o["name"] == "stdout")


def svg_texts(img) -> list[str]:
    """The <text>s of the SVG an <img> shows (its data: URL decoded)."""
    head, _, data = img.get_attribute("src").partition(",")
    assert head.startswith("data:image/svg+xml"), f"the picture is an SVG, not {head[:40]!r}"
    svg = b64decode(data) if head.endswith(";base64") else urllib.parse.unquote_to_bytes(data)
    return ["".join(t.itertext()).strip() for t in ET.fromstring(svg).iter(SVG + "text")]


def step_lines(root, k: int, header: str) -> list[str]:
    """Wait until the view shows step k of 3 as the kernel derived it (counter and the text panel's
    header); the text panel's lines."""
    root.page.wait_for_function(
        """([view, k, header]) => view.querySelector('.adiff-step-counter').textContent === `step ${k} of 3`
             && view.querySelector('.adiff-step-lines').textContent.split('\\n')[0].includes(header)""",
        arg=[root.element_handle(), k, header], timeout=10_000)
    return root.locator(".adiff-step-lines").evaluate("e => e.textContent.split('\\n')")


def wait_for_view(root) -> None:
    from playwright.sync_api import expect

    root.scroll_into_view_if_needed()
    expect(root).to_be_visible(timeout=20_000)
    root.locator(".adiff-node").first.wait_for(state="attached", timeout=20_000)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_own_classes_table_checks_graph_and_stepper(browser, own_lab, theme):
    from playwright.sync_api import expect

    path = own_lab.put(f"own-{theme}", "own_classes.ipynb", own_notebook())
    context, page = lab_harness.open_notebook(browser, own_lab, path, theme)
    try:
        lab_harness.run_all_cells(page, own_lab)
        model_cells = cells(page)
        code = [c for c in model_cells if c["type"] == "code"]
        assert len(code) == 21 and [c["source"] for c in code[1:16]] == SEED, "the seed's 15 cells, verbatim"
        assert code[I_GRAD]["source"] == GRAD and code[I_STEP_WRONG]["source"] == STEP_WRONG

        # every cell ran without an error (no error output, nothing on stderr, none shown in the DOM)
        for c in code:
            errors = [o for o in c["outputs"] if o["type"] == "error" or o["name"] == "stderr"]
            shown = cell_dom(page, model_cells, c["index"]).locator(
                ".jp-OutputArea-output[data-mime-type*='stderr'], .jp-OutputArea-output[data-mime-type*='error']")
            assert not errors and shown.count() == 0, f"cell {c['index']} ({c['source'][:40]!r}) failed: {errors}"
        for k, printed in PRINTED.items():
            assert stdout(code[k]).strip() == printed, f"seed cell {k} printed {stdout(code[k])!r}, not {printed}"
            expect(cell_dom(page, model_cells, k).locator(".jp-OutputArea")).to_contain_text(printed)

        # %%grad: the cell's own print, then whose classes, the table, and the check of each step
        grad = cell_dom(page, model_cells, I_GRAD)
        assert stdout(code[I_GRAD]).strip() == DY_DX, "%%grad runs the cell: its own print shows"
        result = grad.locator(".adiff-result").first
        result.scroll_into_view_if_needed()
        expect(result).to_be_visible()
        expect(result.locator(".adiff-own")).to_have_text("your classes from this notebook: Variable, Square, Exp")
        expect(result.locator(".adiff-own-check")).to_contain_text("3 ✓")
        assert DY_DX in lab_harness.table_texts(result.locator("table.adiff-table")), "x's gradient in the table"
        marks = result.locator(".adiff-trace li > b").all_inner_texts()
        assert marks == ["✓", "✓", "✓"], f"the trace's steps, each marked first: {marks}"
        close_up(page, grad.locator(".jp-OutputArea-output[data-mime-type='text/html']"), f"own-{theme}-grad")

        # --graph: their classes by name in the picture
        graph = cell_dom(page, model_cells, I_GRAPH)
        img = graph.locator(".jp-OutputArea-output[data-mime-type^='image/'] img").first
        img.scroll_into_view_if_needed()
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle(), timeout=10_000)
        texts = svg_texts(img)
        assert "Square" in texts and "Exp" in texts, f"the picture names their classes: {texts}"
        close_up(page, graph.locator(".jp-Cell-outputArea"), f"own-{theme}-graph")

        # --step: ▶ three times, each step's header starts with its ✓
        root = cell_dom(page, model_cells, I_STEP).locator(ROOT)
        wait_for_view(root)
        for k, header in enumerate(HEADERS, 1):
            root.locator(".adiff-step-next").click()
            lines = step_lines(root, k, header)
            assert lines[0].startswith("✓ "), f"step {k}: {lines}"

        # --step over the Exp that forgets `* gy`: the static summary names step 2, the view's step 2 is ✗
        wrong = cell_dom(page, model_cells, I_STEP_WRONG)
        static = wrong.locator(".adiff-result").first
        static.scroll_into_view_if_needed()
        summary = [t.strip() for t in static.locator(".adiff-own-check").all_inner_texts()]
        assert any(t.startswith("✗ first wrong step, 2") for t in summary), f"the static summary: {summary}"
        root = wrong.locator(ROOT)
        wait_for_view(root)
        for k, header in enumerate(HEADERS[:2], 1):
            root.locator(".adiff-step-next").click()
            lines = step_lines(root, k, header)
        assert lines[0].startswith("✗ "), f"step 2 is marked wrong: {lines}"
        assert root.locator(".adiff-step-lines .adiff-step-wrong").count() == 2, "the ✗ of the header and of its line"
        assert any(line.startswith("✗ Exp.backward") for line in lines), f"step 2 says what is wrong: {lines}"
        close_up(page, root, f"own-{theme}-step2-wrong")
        close_up(page, wrong.locator(".jp-Cell-outputArea"), f"own-{theme}-step2-wrong-output")
        screenshots(page, f"own-{theme}")
    finally:
        lab_harness.close_notebook(context, page)
