"""Arrays and pictures that fit (issue 17), in a real JupyterLab with the file browser open, light and
dark, at 100% and 150% zoom: the seed's --graph picture fits the output area (its target y is in the
picture, nothing is cut: the picture is never wider than the area); a 2-layer network's output (table,
trace) is at most 1,000 px tall at 100% and never wider than the area; a softmax cross-entropy and a
broadcasting cell fit the width too. Every output is screenshotted (tests/artifacts/arrays-*.png).
Uses lab_harness.py (the session's server); skips without its tools, unless CI is set.
"""
from __future__ import annotations

import json

import pytest

import lab_harness
import reference
from lab_harness import ARTIFACTS

pytestmark = pytest.mark.browser

SEED = "%%grad --graph\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
MLP = "%%grad\n" + reference.MLP.rstrip()
SOFTMAX = """%%grad
z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 0.3]])
t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
p = softmax(z)
loss = -(t * log(p)).sum() / 2"""
BROADCAST = """%%grad
a = np.array([[1.0], [2.0]])
b = np.array([0.5, -1.0, 2.0])
c = a * b
loss = (c ** 2).sum()"""
CELLS = {"seed": SEED, "mlp": MLP, "softmax": SOFTMAX, "broadcast": BROADCAST}

JS_MEASURE = """cell => {
  const area = cell.querySelector('.jp-Cell-outputArea');
  const out = cell.querySelector('.jp-OutputArea-output');
  const img = cell.querySelector('.jp-OutputArea-output img');
  const table = cell.querySelector('table.adiff-table');
  const r = e => e ? e.getBoundingClientRect() : null;
  // inside a box of ours that scrolls on its own (the table's, a grid's): the box is measured, not it
  const inScrollBox = (e, top) => {
    for (let p = e.parentElement; p && p !== top; p = p.parentElement)
      if (p.matches('.adiff-table-box, .adiff-flow') && getComputedStyle(p).overflowX === 'auto') return true;
    return false;
  };
  return {
    area_height: r(area).height, output_width: r(out).width,
    // what the page shows (a scroll box clips what it holds: the table's own box may scroll)
    widest: Math.max(...Array.from(area.querySelectorAll('*')).filter(e => !inScrollBox(e, area))
                     .map(e => r(e).right)) - r(out).left,
    table_scrolls: table ? table.parentElement.scrollWidth > table.parentElement.clientWidth : false,
    table_width: table ? r(table).width : 0,
    image: img ? {shown: r(img).width, natural: img.naturalWidth, right: r(img).right - r(out).left} : null,
  };
}"""


def notebook() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in
                ("%load_ext adiff_magic\nimport numpy as np", *CELLS.values())]
    return nbformat.writes(nb)


@pytest.mark.parametrize("theme, zoom", [("light", 1.0), ("dark", 1.0), ("light", 1.5), ("dark", 1.5)])
def test_arrays_and_the_seed_picture_fit_the_output_area(browser, lab, theme, zoom):
    from playwright.sync_api import expect

    label = f"{theme}-{int(zoom * 100)}"
    path = lab.put(f"arrays-{label}", "arrays.ipynb", notebook())
    context, page = lab_harness.open_notebook(browser, lab, path, theme, zoom)
    figures = {}
    try:
        lab_harness.command(page, "filebrowser:activate")
        expect(page.locator(".jp-FileBrowser")).to_be_visible()
        lab_harness.run_all_cells(page, lab)
        model_cells = lab_harness.cells(page)
        for name, source in CELLS.items():
            cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, source)["index"])
            cell.scroll_into_view_if_needed()
            expect(cell.locator("table.adiff-table")).to_be_visible(timeout=30_000)
            if name == "seed":
                expect(cell.locator(".jp-OutputArea-output img")).to_be_visible()
                page.wait_for_function("c => c.querySelector('.jp-OutputArea-output img').naturalWidth > 0",
                                       arg=cell.element_handle())
            m = cell.evaluate(JS_MEASURE)
            figures[name] = m
            lab_harness.close_up(page, cell.locator(".jp-Cell-outputArea"), f"arrays-{name}-{label}")
            assert m["widest"] <= m["output_width"] + 1, f"{label} {name}: something is cut at the right: {m}"
            if name == "seed":
                image = m["image"]
                assert image["natural"] <= 840, f"{label}: the seed picture is {image['natural']} px wide"
                assert image["right"] <= m["output_width"] + 1, f"{label}: the picture passes the output area: {m}"
            if name == "mlp" and zoom == 1.0:
                assert m["area_height"] <= 1000, f"{label}: the network's output is {m['area_height']} px tall"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"arrays-{label}.json").write_text(json.dumps(figures, indent=1))
        lab_harness.close_notebook(context, page)
