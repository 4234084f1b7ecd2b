"""--step --quiz in a real JupyterLab (issue 19), light and dark, keyboard only: each step's local derivative
and gradient are boxes to type into; a right answer gets ✓, a first wrong one the rule in the cell's letters,
a second the numbers; once both are in, the step's own text shows; after the last step, the score. The seed
by hand: step 1 ∂y/∂b = 2b = 2.56805 and dy/db = 2.56805; step 2 ∂b/∂a = e^a = 1.28403, dy/da = 3.29744;
step 3 ∂a/∂x = 2x = 1, dy/dx = 3.29744. The same in the exported page, with no kernel and no network. Screenshots:
tests/artifacts/quiz-*.png. Uses lab_harness.py; skips without its tools, unless CI is set."""
from __future__ import annotations

import subprocess
import sys

import pytest

import lab_harness
from lab_harness import ARTIFACTS

pytestmark = pytest.mark.browser

QUIZ = "%%grad --step --quiz --no-trace\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"


def answer(page, root, label: str, text: str) -> str:
    """Type ``text`` into the box labelled ``label`` and press Enter, as the keyboard does; what is said then."""
    box = root.get_by_role("textbox", name=label)
    box.focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    return root.locator(".adiff-step-lines").inner_text()


def take_the_quiz(page, root) -> str:
    from playwright.sync_api import expect

    root.get_by_role("button", name="next step").click()
    lines = root.locator(".adiff-step-lines")
    expect(lines).to_contain_text("Square.backward")
    assert "2.56805 × 1" not in lines.inner_text(), "the step's numbers show before they are asked for"
    shown = root.evaluate("""r => ({labels: Array.from(r.querySelectorAll('.adiff-label'), g => getComputedStyle(g).visibility),
        b: Array.from(r.querySelectorAll('.adiff-node[data-kind=variable]')).find(g => g.querySelector('text').textContent === 'b').textContent})""")
    assert set(shown["labels"]) == {"hidden"}, "the local derivatives on the edges give the answers away"
    assert "grad ?" in shown["b"], f"b's gradient shows before it is asked for: {shown['b']}"
    said = answer(page, root, "∂y/∂b: the local derivative", "2")  # wrong: the rule, in the cell's letters
    assert "✗ not yet: the rule is ∂y/∂b = 2·b; try again" in said
    said = answer(page, root, "∂y/∂b: the local derivative", "2.568")
    assert "✓ right" in said
    answer(page, root, "dy/db: the gradient it passes on", "2.57")  # within ½%: right at the first try
    expect(lines).to_contain_text("dy/db = 1 × 2.56805 = 2.56805")  # both in: the step's own text
    root.get_by_role("button", name="next step").click()
    answer(page, root, "∂b/∂a: the local derivative", "1.28")
    said = answer(page, root, "dy/da: the gradient it passes on", "1")
    assert "✗ not yet: the rule is dy/da = dy/db × ∂b/∂a; try again" in said
    said = answer(page, root, "dy/da: the gradient it passes on", "2")  # wrong twice: the numbers
    assert "✗ it is dy/db × ∂b/∂a = 2.56805 × 1.28403 = 3.29744" in said
    root.get_by_role("button", name="next step").click()
    answer(page, root, "∂a/∂x: the local derivative", "1")
    answer(page, root, "dy/dx: the gradient it passes on", "3.297")
    expect(lines).to_contain_text("score: 4 of 6 right at the first try")  # ∂y/∂b and dy/da missed first
    labels = root.evaluate("r => Array.from(r.querySelectorAll('.adiff-label'), g => getComputedStyle(g).visibility)")
    assert set(labels) == {"visible"}, "all answered: the edges' local derivatives show again"
    return lines.inner_text()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_quiz_typed_through_with_the_keyboard(browser, step_lab, theme):
    from playwright.sync_api import expect

    path = step_lab.put(f"quiz-{theme}", "quiz.ipynb", lab_harness.notebook_of("%load_ext adiff_magic", QUIZ))
    context, page = lab_harness.open_notebook(browser, step_lab, path, theme)
    try:
        lab_harness.run_all_cells(page, step_lab)
        root = page.locator(".adiff-step-root:visible")
        expect(root).to_have_count(1, timeout=30_000)
        take_the_quiz(page, root)
        ARTIFACTS.mkdir(exist_ok=True)
        lab_harness.close_up(page, root, f"quiz-{theme}")
        lab_harness.command(page, "docmanager:save")
        page.wait_for_function("() => !window.__visiblePanel().context.model.dirty", timeout=20_000)
    finally:
        lab_harness.close_notebook(context, page)
    if theme == "light":  # the same quiz in the exported page: no kernel, no network
        saved = step_lab.root / path
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(saved)], check=True,
                       capture_output=True)
        context = browser.new_context()
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else route.abort())
        page = context.new_page()
        try:
            page.goto(f"file://{saved.with_suffix('.html')}")
            twin = page.locator("[data-adiff-offline] .adiff-step-root")
            expect(twin).to_be_visible(timeout=30_000)
            take_the_quiz(page, twin)
        finally:
            context.close()
