"""%%grad --step fits the window (issue 17): in a real JupyterLab, with the file browser open, at 1280×900
and at 853×600 (the same screen at 150% zoom, in CSS px), light and dark, the controls (◀ play ▶), the
step's text and the highlighted node (the running function; before the first step the target) are all
inside the notebook's visible area at every step of the seed chain and of a 2-layer MLP.

A learner scrolls until the controls just show at the bottom of the window and presses ▶: the view brings
its stage (controls, text, picture) into sight, and the picture's box scrolls itself to the step's nodes.
Every step is screenshotted (tests/artifacts/step-fit-*.png) and the heights measured (step-fit.json).
Uses lab_harness.py (the session's server); skips without its tools, unless CI is set.
"""
from __future__ import annotations

import json

import pytest

import lab_harness
import reference
from lab_harness import ARTIFACTS

pytestmark = pytest.mark.browser

SEED = "%%grad --step\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
MLP = "%%grad --step\n" + reference.MLP.rstrip()
CELLS = {"seed": (SEED, 3), "mlp": (MLP, 7)}  # the cell and its backward steps (one per function)
SIZES = [(1280, 900), (853, 600)]
ROOT = ".adiff-step-root"
FIGURES: dict = {}

# Wait until the view has settled (the boxes and the notebook still for 12 frames), then measure, in
# client px: the visible part of the notebook, the controls, the step's text, the picture's box and the
# highlighted node (the running function, or the target before the first step).
JS_MEASURE = """root => new Promise(resolve => {
  const outer = root.closest('.jp-WindowedPanel-outer');
  const graph = root.querySelector('.adiff-step-graph');
  const where = () => [outer.scrollTop, graph.scrollTop, graph.scrollLeft, graph.clientHeight].join(',');
  let last = where(), still = 0;
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const tick = () => {
    const now = where();
    still = now === last ? still + 1 : 0;
    last = now;
    if (still < 12) return requestAnimationFrame(tick);
    const o = outer.getBoundingClientRect();
    const node = root.querySelector('.adiff-step-current')
      || root.querySelector('rect.adiff-target').closest('.adiff-node');
    resolve({
      seen: {left: Math.max(o.left, 0), top: Math.max(o.top, 0), right: Math.min(o.right, innerWidth),
             bottom: Math.min(o.bottom, innerHeight)},
      controls: ['prev', 'play', 'next'].map(n => box(root.querySelector('.adiff-step-' + n))),
      counter: root.querySelector('.adiff-step-counter').textContent,
      text: box(root.querySelector('.adiff-step-lines')),
      first: root.querySelector('.adiff-step-lines').textContent.split('\\n')[0],
      graph: box(graph),
      node: box(node),
      name: node.querySelector('text').textContent,
      marks: Array.from(root.querySelectorAll('.adiff-step-current, .adiff-step-output, .adiff-step-input')).map(box),
      follows: !root.querySelector('.adiff-step-follows').hidden,
      widget: root.getBoundingClientRect().height,
      output: root.closest('.jp-Cell-outputArea').getBoundingClientRect().height,
      width: root.closest('.jp-OutputArea-output').getBoundingClientRect().width,
    });
  };
  requestAnimationFrame(tick);
})"""


def inside(box: dict, frame: dict, slack: float = 0.5) -> bool:
    return (box["left"] >= frame["left"] - slack and box["top"] >= frame["top"] - slack
            and box["right"] <= frame["right"] + slack and box["bottom"] <= frame["bottom"] + slack)


def check(m: dict, where: str) -> None:
    """The controls, the step's text and the highlighted node in sight (the node inside its box too)."""
    seen = m["seen"]
    for name, box in zip(("◀", "play", "▶"), m["controls"]):
        assert inside(box, seen), f"{where}: {name} at {box} is outside the visible notebook {seen}"
    assert inside(m["text"], seen), f"{where}: the step's text {m['text']} is outside {seen}"
    assert inside(m["node"], seen) and inside(m["node"], m["graph"], 1.5), \
        f"{where}: the highlighted node {m['name']} at {m['node']} is outside {seen} or its box {m['graph']}"


def notebook() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in
                ("%load_ext adiff_magic\nimport numpy as np", SEED, MLP)]
    return nbformat.writes(nb)


def place(page, root, at: str) -> None:
    """Scroll the notebook as a learner would: the view's top at the top of the notebook ('top'), or its
    controls just showing at the bottom ('bottom'). Again until it stays: cells coming into sight are laid
    out anew (content-visibility), which moves what is under them."""
    for _ in range(8):
        moved = root.evaluate("""(root, at) => {
          const outer = root.closest('.jp-WindowedPanel-outer');
          const o = outer.getBoundingClientRect(), bar = root.querySelector('.adiff-step-toolbar').getBoundingClientRect();
          const delta = Math.round(at === 'top' ? root.getBoundingClientRect().top - o.top - 4 : bar.bottom - o.bottom + 12);
          const before = outer.scrollTop;
          outer.scrollTop += delta;
          return Math.abs(outer.scrollTop - before) > 1;
        }""", at)
        page.wait_for_timeout(150)
        if not moved:
            return


def step_to(page, root, k: int, n: int) -> dict:
    """Wait for step k of n as the kernel drew it; the measures once still."""
    page.wait_for_function(
        """([view, k, n]) => {
          const counter = view.querySelector('.adiff-step-counter').textContent;
          return k === 0 ? !view.querySelector('.adiff-step-current') && view.querySelector('.adiff-step-prev').disabled
            : counter === `step ${k} of ${n}` && !!view.querySelector('.adiff-step-current')
              && view.querySelector('.adiff-step-lines').textContent.includes('.creator');
        }""", arg=[root.element_handle(), k, n], timeout=15_000)
    page.wait_for_timeout(SETTLED_MS)  # past step.js's SMOOTH_MS, when a cut-short smooth scroll is finished
    return root.evaluate(JS_MEASURE)


SETTLED_MS = 800


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_controls_text_and_highlighted_node_fit_the_window_at_every_step(browser, step_lab, theme):
    from playwright.sync_api import expect

    path = step_lab.put(f"step-fit-{theme}", "fit.ipynb", notebook())
    context, page = lab_harness.open_notebook(browser, step_lab, path, theme)
    try:
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        lab_harness.command(page, "filebrowser:activate")
        expect(page.locator(".jp-FileBrowser")).to_be_visible()
        lab_harness.run_all_cells(page, step_lab)
        model_cells = lab_harness.cells(page)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(400)
            for name, (source, n) in CELLS.items():
                cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, source)["index"])
                root = cell.locator(ROOT)
                expect(root).to_be_visible(timeout=30_000)
                page.wait_for_function(f"() => document.querySelectorAll('{ROOT} .adiff-node').length > 0")
                walk(page, root, f"{name}-{theme}-{width}x{height}", n)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"step-fit-{theme}.json").write_text(json.dumps(FIGURES, indent=1))
    finally:
        lab_harness.close_notebook(context, page)


def click_w1(page, root, label: str) -> None:
    """A click on W1 shows its gradient as a matrix with its shape, in sight (the view scrolls to it)."""
    from playwright.sync_api import expect

    w1 = root.locator(".adiff-node[data-kind=variable]").filter(has=page.locator("text", has_text="W1")).first
    w1.evaluate("g => g.dispatchEvent(new MouseEvent('click', {bubbles: true}))")  # as a click inside its box
    paths = root.locator(".adiff-step-paths")
    expect(paths).to_contain_text("dloss/dW1, shape (2, 3):")
    expect(paths).to_contain_text("dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3), G = dloss/d(matmul(x, W1))")
    page.wait_for_timeout(800)  # scrolled to, smoothly
    seen = root.evaluate(JS_MEASURE)["seen"]
    box = paths.evaluate("e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }")
    assert box["top"] >= seen["top"] - 0.5 and box["top"] < seen["bottom"], f"{label}: W1's gradient at {box}, out of {seen}"
    page.screenshot(path=str(ARTIFACTS / f"step-fit-{label}-w1.png"))


def walk(page, root, label: str, n: int) -> None:
    """Step 0 with the view at the top of the notebook; ▶ with its controls just showing at the bottom;
    ▶ to the end; ◀ back to the start: in sight at every step, screenshotted."""
    ARTIFACTS.mkdir(exist_ok=True)
    while root.locator(".adiff-step-prev").is_enabled():  # an earlier size's run left it at the end
        root.locator(".adiff-step-prev").click()
    step_to(page, root, 0, n)  # drawn, and JupyterLab done scrolling to the cell the clicks made active
    page.wait_for_timeout(500)
    place(page, root, "top")
    measures = [step_to(page, root, 0, n)]
    check(measures[0], f"{label} before the first step")
    page.screenshot(path=str(ARTIFACTS / f"step-fit-{label}-00.png"))
    place(page, root, "bottom")
    for k in range(1, n + 1):
        page.mouse.move(0, 0)
        root.locator(".adiff-step-next").click()
        m = step_to(page, root, k, n)
        check(m, f"{label} step {k}")
        measures.append(m)
        page.screenshot(path=str(ARTIFACTS / f"step-fit-{label}-{k:02d}.png"))
    for _ in range(n):
        root.locator(".adiff-step-prev").click()
    m = step_to(page, root, 0, n)
    check(m, f"{label} back before the first step")
    if label.startswith("mlp"):
        click_w1(page, root, label)
    FIGURES[label] = {
        "widget_px": round(max(x["widget"] for x in measures)), "output_px": round(max(x["output"] for x in measures)),
        "output_width_px": round(measures[0]["width"]), "visible_px": round(m["seen"]["bottom"] - m["seen"]["top"]),
        "follows_notice": measures[-1]["follows"],
        "marks_in_sight": [sum(inside(b, x["seen"]) and inside(b, x["graph"], 1.5) for b in x["marks"])
                           for x in measures[1:]],
        "marks": [len(x["marks"]) for x in measures[1:]],
    }
    print(label, FIGURES[label])
