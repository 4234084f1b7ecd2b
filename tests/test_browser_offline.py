"""The --step view without a kernel (issue 19), in a real JupyterLab and in exported HTML: while the kernel
lives, one stepper shows (the widget; its offline twin is hidden); saved, its kernel shut down and reopened,
the twin steps through the backward pass in the page (▶ three times: the seed's last step, and x's node
reads grad 3.29744 = 2·e^0.5) and its slider says it needs the kernel; `jupyter nbconvert --to html` of
the saved notebook, opened with every network request refused, steps the same; an untrusted copy (no
scripts) shows every step as text, folded. Screenshots:
tests/artifacts/offline-*.png. Uses lab_harness.py; skips without its tools, unless CI is set."""
from __future__ import annotations

import subprocess
import sys

import pytest

import lab_harness
from lab_harness import ARTIFACTS

pytestmark = pytest.mark.browser

STEP = "%%grad --step\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
LAST = "a.creator = Square, input x → Square.backward(dy/da = 3.29744)"
SAVED = "() => !window.__visiblePanel().context.model.dirty"


def untrusted_copy(lab, saved) -> str:
    """A copy of the saved notebook that JupyterLab does not trust: one metadata key changed on disk, so that
    its signature no longer matches (as a notebook received by email)."""
    import json

    notebook = json.loads(saved.read_text(encoding="utf-8"))
    notebook["metadata"]["received"] = "by email"
    return lab.put("offline-untrusted", "received.ipynb", json.dumps(notebook))


def step_three_times(root) -> dict:
    """Press ▶ three times in the view ``root``; what its text and x's node show then."""
    for _ in range(3):
        root.get_by_role("button", name="next step").click()
    return root.evaluate("""r => ({lines: r.querySelector('.adiff-step-lines').textContent,
        nodes: Object.fromEntries(Array.from(r.querySelectorAll('.adiff-node[data-kind=variable]'),
                                             g => [g.querySelector('text').textContent, g.textContent]))})""")


def test_the_stepper_runs_without_a_kernel_after_a_reopen_and_in_exported_html(browser, step_lab):
    from playwright.sync_api import expect

    path = step_lab.put("offline", "offline.ipynb", lab_harness.notebook_of("%load_ext adiff_magic", STEP))
    context, page = lab_harness.open_notebook(browser, step_lab, path, "light")
    try:
        lab_harness.run_all_cells(page, step_lab)
        expect(page.locator(".adiff-step-root:visible")).to_have_count(1, timeout=30_000)  # the widget's, alone
        assert page.locator(".jp-OutputArea-output .adiff-step-root:visible").evaluate("r => !r.closest('[data-adiff-offline]')")
        assert page.locator("[data-adiff-offline]").evaluate("e => e.hidden"), "the twin shows beside the widget"
        lab_harness.command(page, "docmanager:save")
        page.wait_for_function(SAVED, timeout=20_000)
    finally:
        lab_harness.close_notebook(context, page)  # the kernel is shut down with it

    context, page = lab_harness.open_notebook(browser, step_lab, path, "light")  # a fresh kernel: no model
    try:
        twin = page.locator("[data-adiff-offline] .adiff-step-root")
        expect(twin).to_be_visible(timeout=30_000)
        shown = step_three_times(twin)
        assert LAST in shown["lines"], shown["lines"]
        assert "grad 3.29744" in shown["nodes"]["x"], shown["nodes"]
        twin.locator("input[type=number]").fill("1")
        twin.locator("input[type=number]").press("Enter")
        expect(twin.locator(".adiff-step-error")).to_contain_text("no kernel is running this view")
        ARTIFACTS.mkdir(exist_ok=True)
        lab_harness.close_up(page, twin, "offline-reopened")
    finally:
        lab_harness.close_notebook(context, page)

    saved = step_lab.root / path
    untrusted = untrusted_copy(step_lab, saved)
    context, page = lab_harness.open_notebook(browser, step_lab, untrusted, "light")
    try:  # no script runs: every step is there as text, folded until asked for
        copy = page.locator(".adiff-offline details")  # (the sanitizer drops data-* attributes, not classes)
        expect(copy).to_be_visible(timeout=30_000)
        assert page.locator(".adiff-offline script").count() == 0
        expect(copy.locator("summary")).to_contain_text("all 3 steps, as text")
        copy.locator("summary").click()
        expect(copy.locator("pre")).to_contain_text("3. line 2  " + LAST)
        lab_harness.close_up(page, page.locator(".adiff-offline"), "offline-untrusted")
    finally:
        lab_harness.close_notebook(context, page)

    html = saved.with_suffix(".html")
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(saved)], check=True,
                   capture_output=True)
    context = browser.new_context()
    refused = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                  else (refused.append(route.request.url), route.abort()))
    page = context.new_page()
    try:
        page.goto(f"file://{html}")
        twin = page.locator("[data-adiff-offline] .adiff-step-root")
        expect(twin).to_be_visible(timeout=30_000)
        shown = step_three_times(twin)
        assert LAST in shown["lines"] and "grad 3.29744" in shown["nodes"]["x"], shown
        page.screenshot(path=str(ARTIFACTS / "offline-exported.png"), full_page=True)
    finally:
        context.close()
