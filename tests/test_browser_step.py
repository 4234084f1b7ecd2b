"""%%grad --step in a real JupyterLab driven by headless Chromium: the step-through view as a person uses it.

One notebook, `%load_ext adiff_magic` and the seed chain under `%%grad --step`, run in the light and the
dark theme:

1. the static table is there (dy/dx = 3.297442541400256) and the widget rendered under it;
2. ▶ three times: the running function (Square, Exp, Square), the text panel's header (y.creator = Square,
   b.creator = Exp, a.creator = Square) and the gradient the step gives its input (b, a, x), by hand;
   The marks stand out (computed styles) and the picture is in the theme's palette;
3. ◀ once: step 2 of 3 and x's gradient blank again; → and ← with the view focused; play starts over
   from the end at about a step a second and pauses; keys typed on a slider are not notebook commands;
4. x = 1.0 typed in its number box (Enter): stepped to the end, x's gradient is 4·e² and y's value e²;
5. a click on x shows its chain rule with the numbers at x = 1;
6. latency, measured in the page: ▶ click -> counter and -> highlight (the kernel's round trip), and
   number box change -> x's gradient text; written to tests/artifacts/step-latency.json;
7. every button and input has an aria-label and the view is focusable;
8. saved (signed), then reopened with a fresh kernel: the static output still shows and the widget's
   output is its text or JupyterLab's "model not found", never a broken page;
9. screenshots: step-THEME-NN.png (the notebook) and close-ups of the widget before the first step,
   after step 2, with the chain rule shown, and reopened; the light run also switches to Dark live.

The numbers are derived by hand with math (y = (e^(x²))², dy/dx = 4x·e^(2x²)), not by the engine.
Uses the JupyterLab harness of lab_harness.py (one server for this module). Skips without Chromium,
Playwright, JupyterLab or anywidget, unless CI is set, when it fails. Run with -s for the latencies.
"""
from __future__ import annotations

import json
import math
import re
import statistics
import time

import pytest

import lab_harness
from lab_harness import ARTIFACTS, panel

pytestmark = pytest.mark.browser

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
STEP_CELL = "%%grad --step\n" + SEED
ROOT = ".adiff-step-root"

# by hand: a = x², b = e^a, y = b²; dy/db = 2b, dy/da = 2b·e^a = 2e^(2a), dy/dx = 2e^(2a)·2x
X0, X1 = 0.5, 1.0
B0 = math.exp(X0 ** 2)
DY_DB, DY_DA, DY_DX = 2 * B0, 2 * math.exp(2 * X0 ** 2), 2 * math.exp(2 * X0 ** 2) * 2 * X0
STEPS = [  # (function that runs, header of the text panel, the input it gives a gradient, that gradient)
    ("Square", "y.creator = Square", "b", DY_DB),
    ("Exp", "b.creator = Exp", "a", DY_DA),
    ("Square", "a.creator = Square", "x", DY_DX),
]
# at x = 1: b = e, y = e², dy/dx = 4e²; the chain rule's factors ∂y/∂b = 2b, ∂b/∂a = e^a, ∂a/∂x = 2x
B1 = math.exp(X1 ** 2)
Y1, DY_DX1 = B1 ** 2, 4 * X1 * math.exp(2 * X1 ** 2)
FACTORS1 = [2 * B1, B1, 2 * X1]
TABLE_DY_DX = "3.297442541400256"  # 2·e^0.5, as the table prints it (every digit)

CLICK_TARGET_MS = 50  # issue 11: ▶ -> the step drawn, the kernel's round trip included (median)
VALUE_TARGET_MS = 200  # a typed value -> the new gradient drawn (median)
LATENCY_CLICKS, LATENCY_VALUES = 6, 3
# between timed clicks, as a person clicks: back to back (a click within ~5 ms of the last step drawn), the
# widget manager holds the update until the kernel has gone idle from the last one (+30-40 ms)
CLICK_PAUSE_MS = 300


def six(value: float) -> str:
    """A number as the view writes it: six significant digits."""
    return f"{value:.6g}"


def step_notebook() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext adiff_magic"), nbformat.v4.new_code_cell(STEP_CELL)]
    return nbformat.writes(nb)


# --------------------------------------------------------------------------------------------------
# one server and one browser for this module
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def step_browser(browser, step_lab):
    return browser


LATENCY: dict = {}


def record_latency(theme: str, key: str, samples: list[float]) -> float:
    median = round(statistics.median(samples), 1)
    LATENCY.setdefault(theme, {})[key] = {"median_ms": median, "samples_ms": [round(s, 1) for s in samples]}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "step-latency.json").write_text(json.dumps(LATENCY, indent=1))
    print(f"  {theme}: {key}: median {median} ms of {[round(s, 1) for s in samples]}")
    return median


# --------------------------------------------------------------------------------------------------
# reading the view
# --------------------------------------------------------------------------------------------------

# the view's state as a person sees it: counter, the marked nodes by name, each variable's gradient
# and value lines, the text panel and the chain-rule panel
JS_STATE = """root => {
  const name = g => g ? g.querySelector('text').textContent.trim() : null;
  const nodes = {};
  for (const g of root.querySelectorAll('.adiff-node[data-kind=variable]')) {
    const texts = Array.from(g.querySelectorAll('text')).map(t => t.textContent.trim());
    nodes[texts[0]] = {key: g.dataset.key, texts, grad: (g.querySelector('text[data-grad]') || {}).textContent};
  }
  return {
    counter: root.querySelector('.adiff-step-counter').textContent,
    current: name(root.querySelector('.adiff-step-current')),
    output: name(root.querySelector('.adiff-step-output')),
    inputs: Array.from(root.querySelectorAll('.adiff-step-input')).map(name),
    active: root.querySelectorAll('.adiff-step-active').length,
    nodes,
    lines: root.querySelector('.adiff-step-lines').textContent.split('\\n'),
    paths: root.querySelector('.adiff-step-paths').textContent,
    error: root.querySelector('.adiff-step-error').textContent,
  };
}"""

# Click a button of the view and time, in the page, until the counter shows the new step (drawn here)
# and until the highlight and the text panel have changed (derived by the kernel and sent back).
JS_TIMED_CLICK = """(root, selector) => new Promise((resolve, reject) => {
  const counter = root.querySelector('.adiff-step-counter');
  const lines = root.querySelector('.adiff-step-lines');
  const marks = () => Array.from(root.querySelectorAll('.adiff-step-current, .adiff-step-output, .adiff-step-input'))
    .map(g => g.dataset.key + ':' + g.getAttribute('class')).join(' ');
  const before = {counter: counter.textContent, lines: lines.textContent, marks: marks()};
  const times = {};
  const t0 = performance.now();
  const check = () => {
    const t = performance.now() - t0;
    if (times.counter === undefined && counter.textContent !== before.counter) times.counter = t;
    if (times.highlight === undefined && marks() !== before.marks && lines.textContent !== before.lines) times.highlight = t;
    if (times.counter !== undefined && times.highlight !== undefined) { observer.disconnect(); resolve(times); }
  };
  const observer = new MutationObserver(check);
  observer.observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
  setTimeout(() => { observer.disconnect(); reject(new Error('no update in 10 s: ' + JSON.stringify(times))); }, 10000);
  root.querySelector(selector).click();
  check();
})"""

# Type a value into an input's number box (change event) and time until x's gradient text changes.
JS_TIMED_VALUE = """(root, [name, value]) => new Promise((resolve, reject) => {
  const box = root.querySelector(`input[type=number][data-name="${name}"]`);
  const grad = () => {  // the picture may be redrawn: look the node up each time
    for (const g of root.querySelectorAll('.adiff-node[data-kind=variable]'))
      if (g.querySelector('text').textContent.trim() === name) return g.querySelector('text[data-grad]').textContent;
  };
  const before = grad();
  const t0 = performance.now();
  const observer = new MutationObserver(() => {
    if (grad() !== before) { observer.disconnect(); resolve(performance.now() - t0); }
  });
  observer.observe(root, {subtree: true, childList: true, characterData: true});
  setTimeout(() => { observer.disconnect(); reject(new Error('no new gradient in 10 s')); }, 10000);
  box.value = String(value);
  box.dispatchEvent(new Event('change', {bubbles: true}));
})"""

# how the step's marks and the picture's fills are drawn (computed styles)
JS_LOOK = """root => {
  const style = e => e ? getComputedStyle(e) : null;
  const fn = root.querySelector('.adiff-step-current rect');
  const plain = root.querySelector('.adiff-node[data-kind=function]:not(.adiff-step-current) rect');
  const variable = root.querySelector('.adiff-node[data-kind=variable] rect');
  const active = root.querySelector('.adiff-step-active polyline');
  const idle = root.querySelector('.adiff-edge:not(.adiff-step-active) polyline');
  return {
    current: [style(fn).stroke, parseFloat(style(fn).strokeWidth)], plain: [style(plain).stroke, parseFloat(style(plain).strokeWidth)],
    active: [style(active).stroke, parseFloat(style(active).strokeWidth)], idle: [style(idle).stroke, parseFloat(style(idle).strokeWidth)],
    variable_fill: style(variable).fill,
    name_fill: style(root.querySelector('.adiff-node[data-kind=variable] text')).fill,
  };
}"""


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def check_look(look: dict, theme: str) -> None:
    """The running function and its edges stand out from the rest, and the picture is in the theme's palette."""
    assert look["current"][0] != look["plain"][0] and look["current"][1] >= 2 * look["plain"][1], \
        f"the running function's outline stands out: {look['current']} vs {look['plain']}"
    assert look["active"][0] != look["idle"][0] and look["active"][1] > look["idle"][1], \
        f"the step's edges stand out: {look['active']} vs {look['idle']}"
    fill, ink = _luminance(look["variable_fill"]), _luminance(look["name_fill"])
    assert (fill < 0.25 < 0.6 < ink) if theme == "dark" else (ink < 0.25 < 0.6 < fill), \
        f"{theme}: the boxes are filled {look['variable_fill']} under text {look['name_fill']}"


JS_ARIA = """root => ({
  root: {tabindex: root.getAttribute('tabindex'), role: root.getAttribute('role'), label: root.getAttribute('aria-label')},
  unlabelled: Array.from(root.querySelectorAll('button, input'))
    .filter(e => !(e.getAttribute('aria-label') || '').trim()).map(e => e.outerHTML.slice(0, 80)),
  controls: root.querySelectorAll('button, input').length,
})"""


def view(page):
    return panel(page).locator(ROOT)


def state(page) -> dict:
    return view(page).evaluate(JS_STATE)


def wait_for_step(page, k: int) -> dict:
    """Wait until the view shows step k of the seed chain as the kernel derived it (the counter, the
    running function marked, and the text panel's header for that step); its state."""
    page.wait_for_function(
        """([root, k, header]) => {
          const view = document.querySelector(root);
          const counter = view.querySelector('.adiff-step-counter').textContent;
          const marked = view.querySelector('.adiff-step-current');
          const first = view.querySelector('.adiff-step-lines').textContent.split('\\n')[0];
          return k === 0 ? !marked && view.querySelector('.adiff-step-prev').disabled
            : counter === `step ${k} of 3` && !!marked && first.includes(header);
        }""", arg=[f".jp-NotebookPanel:not(.lm-mod-hidden) {ROOT}", k, STEPS[k - 1][1] if k else ""],
        timeout=10_000)
    return state(page)


def grad_text(s: dict, name: str) -> str:
    """What follows 'grad' on the variable's gradient line: '' while the pass has not reached it."""
    text = s["nodes"][name]["grad"].strip()
    assert text.startswith("grad"), f"{name}'s gradient line reads {text!r}"
    return text.removeprefix("grad").strip().strip("·").strip()


def click(page, name: str) -> None:
    view(page).locator(f".adiff-step-{name}").click()


# --------------------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("theme", ["light", "dark"])
def test_step_view_steps_through_the_backward_pass(step_browser, step_lab, theme):
    from playwright.sync_api import expect

    path = step_lab.put(f"step-{theme}", "step.ipynb", step_notebook())
    context, page = lab_harness.open_notebook(step_browser, step_lab, path, theme)
    try:
        # 1. the static output, then the widget under it
        lab_harness.run_all_cells(page, step_lab)
        model_cells = lab_harness.cells(page)
        cell = lab_harness.cell_dom(page, model_cells, lab_harness.find_cell(model_cells, STEP_CELL)["index"])
        table = cell.locator(".jp-OutputArea table.adiff-table").first
        expect(table).to_be_visible()
        assert TABLE_DY_DX in lab_harness.table_texts(table), "the static table holds dy/dx = 2·e^0.5"
        root = view(page)
        expect(root).to_be_visible(timeout=20_000)
        page.wait_for_function(f"() => document.querySelector('{ROOT} .adiff-node')", timeout=20_000)
        s = wait_for_step(page, 0)
        assert s["current"] is None and s["active"] == 0, f"step 0: nothing marked yet: {s}"
        assert s["counter"] and "{" not in s["counter"], f"step 0's counter: {s['counter']!r}"
        assert s["lines"][0], "step 0: the text panel says what comes"
        lab_harness.close_up(page, root, f"step-{theme}-widget-step0")
        assert set(s["nodes"]) == {"x", "a", "b", "y"}, f"the picture's variables: {list(s['nodes'])}"
        assert all(grad_text(s, n) == "" for n in "xab"), f"step 0: no gradient yet but the target's: {s['nodes']}"

        # 2. three steps forward
        for k, (function, header, receiver, grad) in enumerate(STEPS, 1):
            click(page, "next")
            s = wait_for_step(page, k)
            assert s["counter"] == f"step {k} of 3", s["counter"]
            assert s["current"] == function, f"step {k}: {function} runs, marked {s['current']}"
            assert header in s["lines"][0], f"step {k}: the text panel starts {s['lines'][0]!r}"
            assert s["output"] == header.split(".")[0], f"step {k}: the gradient comes from {header}, marked {s['output']}"
            assert s["inputs"] == [receiver], f"step {k}: {receiver} receives the gradient, marked {s['inputs']}"
            assert s["active"] >= 2, f"step {k}: the edges into and out of {function} are marked"
            assert grad_text(s, receiver) == six(grad), \
                f"step {k}: {receiver}'s gradient reads {grad_text(s, receiver)!r}, by hand {six(grad)}"
            if k == 2:
                check_look(root.evaluate(JS_LOOK), theme)
                lab_harness.close_up(page, root, f"step-{theme}-widget-step2")
        assert not view(page).locator(".adiff-step-next").is_enabled(), "▶ is off at the last step"

        # 3. one step back, then → with the view focused
        click(page, "prev")
        s = wait_for_step(page, 2)
        assert s["counter"] == "step 2 of 3" and grad_text(s, "x") == "", f"back at step 2, x has no gradient: {s}"
        root.focus()
        page.keyboard.press("ArrowRight")
        s = wait_for_step(page, 3)
        assert grad_text(s, "x") == six(DY_DX), "→ stepped to the end"
        page.keyboard.press("ArrowLeft")
        wait_for_step(page, 2)
        page.keyboard.press("ArrowRight")
        wait_for_step(page, 3)

        # play from the end: it starts over, runs about a step a second, and pauses
        play = root.locator(".adiff-step-play")
        play_label = play.get_attribute("aria-label")
        play.click()
        wait_for_step(page, 0)
        assert play.get_attribute("aria-pressed") == "true" and play.get_attribute("aria-label") != play_label
        started = time.monotonic()
        wait_for_step(page, 1)
        assert 0.5 < time.monotonic() - started < 3, "about one step a second"
        play.click()
        assert play.get_attribute("aria-pressed") == "false" and play.get_attribute("aria-label") == play_label
        page.wait_for_timeout(1300)
        assert state(page)["counter"] == "step 1 of 3", "paused"
        root.focus()
        for k in (2, 3):
            page.keyboard.press("ArrowRight")
            wait_for_step(page, k)

        # keys typed on a slider are the slider's, not notebook commands (b: insert a cell below)
        count = len(lab_harness.cells(page))
        root.locator("input[type=range]").first.focus()
        for key in ("b", "ArrowUp", "ArrowDown", "a"):
            page.keyboard.press(key)
        assert len(lab_harness.cells(page)) == count, "a key on the slider inserted a cell"
        assert root.evaluate("r => r.contains(document.activeElement)"), "the focus stays on the view"

        # 4. x = 1 typed into its box
        box = root.locator("input[type=number][data-name='x']")
        box.fill(str(X1))
        box.press("Enter")
        page.wait_for_function(
            "([sel, want]) => Array.from(document.querySelectorAll(sel)).some(t => t.textContent.includes(want))",
            arg=[f"{ROOT} text[data-grad]", six(DY_DX1)], timeout=10_000)
        s = state(page)
        assert s["counter"] == "step 3 of 3", f"the step is kept when a value changes: {s['counter']}"
        assert grad_text(s, "x") == six(DY_DX1), f"x = 1: dy/dx = 4e² = {six(DY_DX1)}, shown {s['nodes']['x']}"
        assert f"value {six(Y1)}" in s["nodes"]["y"]["texts"], f"x = 1: y = e² = {six(Y1)}: {s['nodes']['y']}"
        assert not s["error"], s["error"]
        assert root.locator("input[type=range][data-name='x']").input_value() in ("1", "1.0"), "the slider follows"

        # 5. x's chain rule
        root.locator(f".adiff-node[data-key='{s['nodes']['x']['key']}']").click()
        paths = root.locator(".adiff-step-paths")
        expect(paths).to_contain_text("dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x")
        text = paths.inner_text()
        for number in [six(f) for f in FACTORS1] + [six(DY_DX1)]:
            assert number in text, f"the chain rule at x = 1 holds {number}: {text!r}"
        assert root.locator(".adiff-step-selected").count() == 1, "the clicked node is marked"
        lab_harness.close_up(page, root, f"step-{theme}-widget-paths")

        # 6. latency: ▶ clicks (kernel round trip included), then typed values
        clicks = []
        while len(clicks) < LATENCY_CLICKS:
            while state(page)["counter"] != "step 3 of 3" and len(clicks) < LATENCY_CLICKS:
                page.wait_for_timeout(CLICK_PAUSE_MS)
                clicks.append(root.evaluate(JS_TIMED_CLICK, ".adiff-step-next"))
            for _ in range(3):
                click(page, "prev")
            wait_for_step(page, 0)
        for k in range(3):
            click(page, "next")
            wait_for_step(page, k + 1)
        values = []
        for v in (0.75, 1.25, X1)[:LATENCY_VALUES]:
            page.wait_for_timeout(CLICK_PAUSE_MS)
            values.append(root.evaluate(JS_TIMED_VALUE, ["x", v]))
        counter_ms = record_latency(theme, "next click -> counter", [c["counter"] for c in clicks])
        click_ms = record_latency(theme, "next click -> highlight and text from the kernel", [c["highlight"] for c in clicks])
        value_ms = record_latency(theme, "number box change -> new gradient", values)

        # 7. aria
        aria = root.evaluate(JS_ARIA)
        assert aria["root"]["tabindex"] == "0" and aria["root"]["role"] == "group" and aria["root"]["label"], aria
        assert aria["controls"] >= 5 and not aria["unlabelled"], f"controls without aria-label: {aria['unlabelled']}"

        lab_harness.screenshots(page, f"step-{theme}")
        assert counter_ms <= CLICK_TARGET_MS and click_ms <= CLICK_TARGET_MS, \
            f"▶ -> drawn: median {click_ms} ms (counter {counter_ms} ms), target {CLICK_TARGET_MS} ms"
        assert value_ms <= VALUE_TARGET_MS, f"typed value -> new gradient: median {value_ms} ms, target {VALUE_TARGET_MS}"

        if theme == "light":  # JupyterLab switched to Dark under the running view: the picture follows
            lab_harness.switch_theme(page, "dark")
            check_look(root.evaluate(JS_LOOK), "dark")
            lab_harness.close_up(page, root, "step-light-switched-dark")

        # 8. saved (signed), reopened with a fresh kernel: static output intact, the widget degrades
        lab_harness.command(page, "docmanager:save")
        page.wait_for_function("() => !window.__visiblePanel().context.model.dirty", timeout=20_000)
    finally:
        lab_harness.close_notebook(context, page)  # shuts every kernel down

    context, page = lab_harness.open_notebook(step_browser, step_lab, path, theme)
    try:
        model_cells = lab_harness.cells(page)
        step = lab_harness.find_cell(model_cells, STEP_CELL)
        assert step["trusted"], "a notebook saved by the server reopens trusted"
        cell = lab_harness.cell_dom(page, model_cells, step["index"])
        table = cell.locator(".jp-OutputArea table.adiff-table").first
        expect(table).to_be_visible()
        assert TABLE_DY_DX in lab_harness.table_texts(table)
        widget = cell.locator(".jp-OutputArea-output").last
        try:  # the widget manager asks the new kernel for the model, then gives up
            widget.locator("text=/Loading widget/").wait_for(state="detached", timeout=20_000)
        except Exception:
            pass  # said below
        shown = widget.inner_text()
        plain = step["outputs"][-1]["text"].strip()
        assert "model not found" in shown or (plain and plain[:20] in shown) or widget.locator(ROOT).count() == 1, \
            f"the widget's output after reopening: {shown!r} (its text/plain: {plain[:80]!r})"
        expect(panel(page).locator(".jp-Cell")).to_have_count(len(model_cells))
        lab_harness.close_up(page, cell.locator(".jp-Cell-outputArea"), f"step-{theme}-reopened")
    finally:
        lab_harness.close_notebook(context, page)
