"""The --step view's clickable elements in a real JupyterLab (issue 17), light and dark: a click on W1
shows its gradient as a button per element; a click on W1[0, 1] writes its chain rule under them,
in sight; Enter on another element (the keyboard) writes that one's and keeps the focus. The expected
sentence is the issue's, its numbers the network's partials by hand (test_step_elements.py checks them
all). Screenshots: tests/artifacts/step-elements-*.png. Uses lab_harness.py; skips without its tools,
unless CI is set."""
from __future__ import annotations


import pytest

import lab_harness
import reference
from lab_harness import ARTIFACTS, REPO

pytestmark = pytest.mark.browser

MLP = "%%grad --step\n" + reference.MLP.rstrip()
W1_0_1 = ("dloss/dW1[0,1] = ∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,1] · ∂h[0,1]/∂W1[0,1]\n"
          "               = (-4.45071) × (-0.8) × 0.348129 = 1.23954")
W1_1_2 = "= (-4.45071) × 0.9 × (-0.619423) = 2.48118"  # 2(y − t) · W2[2,0] · x[0,1](1 − h[0,2]²)
GRADIENT = ["-1.39069", "1.23954", "-1.24059", "2.78139", "-2.47907", "2.48118"]  # dloss/dW1, row by row

JS_BOX = "e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }"
JS_SEEN = """root => {
  const o = root.closest('.jp-WindowedPanel-outer').getBoundingClientRect();
  return {left: Math.max(o.left, 0), top: Math.max(o.top, 0), right: Math.min(o.right, innerWidth),
          bottom: Math.min(o.bottom, innerHeight)};
}"""
# WCAG contrast of an element's text on the first opaque background behind it
JS_CONTRAST = """e => {
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  let node = e, back = null;
  while (node && !back) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || c[3] === 1) back = c; else node = node.parentElement;
  }
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(back || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def notebook() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in
                ("%load_ext adiff_magic\nimport numpy as np\nimport adiff_magic\nprint(adiff_magic.__file__)", MLP)]
    return nbformat.writes(nb)


def inside(box: dict, frame: dict, slack: float = 0.5) -> bool:
    return (box["left"] >= frame["left"] - slack and box["top"] >= frame["top"] - slack
            and box["right"] <= frame["right"] + slack and box["bottom"] <= frame["bottom"] + slack)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_click_on_w1_then_its_element_writes_the_elements_chain_rule(browser, step_lab, theme):
    from playwright.sync_api import expect

    path = step_lab.put(f"step-elements-{theme}", "elements.ipynb", notebook())
    context, page = lab_harness.open_notebook(browser, step_lab, path, theme)
    try:
        lab_harness.run_all_cells(page, step_lab)
        model_cells = lab_harness.cells(page)
        first = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, "print(adiff_magic")["index"])
        where = first.locator(".jp-OutputArea-output").inner_text().strip()
        assert where.startswith(str(REPO)), f"the kernel imports adiff_magic from {where}, not from {REPO}"
        cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, "%%grad --step")["index"])
        root = cell.locator(".adiff-step-root")
        expect(root).to_be_visible(timeout=30_000)
        paths = root.locator(".adiff-step-paths")

        w1 = root.locator(".adiff-node[data-kind=variable]").filter(has=page.locator("text", has_text="W1")).first
        w1.evaluate("g => g.dispatchEvent(new MouseEvent('click', {bubbles: true}))")  # as a click inside its box
        expect(paths).to_contain_text("dloss/dW1, shape (2, 3):")
        elements = paths.locator("button.adiff-step-element")
        expect(elements).to_have_count(6)
        assert elements.all_inner_texts() == GRADIENT
        assert [elements.nth(i).get_attribute("aria-label") for i in range(6)] == \
            ["W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]"]
        rows = set(paths.evaluate("p => Array.from(p.querySelectorAll('.adiff-step-element'), "
                                  "b => Math.round(b.getBoundingClientRect().top - p.getBoundingClientRect().top))"))
        assert len(rows) == 2, f"the grid has W1's two rows: tops {rows}"
        sentence = paths.locator(".adiff-step-sentence")
        expect(sentence).to_have_text("click an element for its chain rule")

        paths.get_by_role("button", name="W1[0,1]", exact=True).click()
        expect(sentence).to_have_text(W1_0_1)
        assert paths.get_by_role("button", name="W1[0,1]", exact=True).get_attribute("aria-pressed") == "true"
        page.wait_for_timeout(800)  # scrolled to, smoothly
        box, seen = sentence.evaluate(JS_BOX), root.evaluate(JS_SEEN)
        assert inside(box, seen), f"the sentence at {box} is outside the visible notebook {seen}"
        for part in (sentence, elements.nth(1)):
            assert part.evaluate(JS_CONTRAST) >= 4.5, f"{theme}: text contrast below 4.5:1"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"step-elements-{theme}.png"))
        lab_harness.close_up(page, paths, f"step-elements-{theme}-paths")

        last = paths.get_by_role("button", name="W1[1,2]", exact=True)
        last.focus()
        page.keyboard.press("Enter")
        expect(sentence).to_contain_text(W1_1_2)
        assert last.evaluate("e => e === document.activeElement"), "the focus stays on the element"
        expect(paths).to_contain_text("dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3)")  # the lines after the grid
    finally:
        lab_harness.close_notebook(context, page)
