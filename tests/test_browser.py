"""demo.ipynb in a real JupyterLab driven by headless Chromium (Playwright): what a person sees.

1. Run all cells (light and dark theme): the %%grad tables hold the known numbers, the --graph cell
   shows a picture (not raw mermaid text), the --plot cell an image, and no cell but the one tagged
   raises-exception shows an error.
2. Reopen the committed notebook without running it, as a newcomer after cloning: JupyterLab treats it
   as untrusted and sanitises its HTML; the saved tables must still be tables with the numbers, and
   their text must stay readable (WCAG contrast >= 4.5) in both themes.

Screenshots go to tests/artifacts/ (gitignored). The browser never sees the repository's demo.ipynb:
each test opens a fresh copy in a temporary server root, with autosave off.

Needs Debian's chromium at /usr/bin/chromium plus the playwright and jupyterlab packages (the `test`
extra); without them the tests skip, unless CI is set, when they fail. Deselect with -m "not browser".
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
VIEWPORT = {"width": 1280, "height": 1000}
RUN_TIMEOUT_S = 120

# expected numbers per %%grad cell, the cell found by a piece of its source (the seed notebook and hand derivations)
EXPECTED = {
    "seed chain": ("a = square(x)\nb = exp(a)\ny = square(b)",
                   ["3.297442541400256", "2.568050833375483", "1.648721270700128"]),
    "diamond": ("a = x**2\ny = a**2 + a**2", ["64"]),
    "Goldstein-Price": ("19 - 14*x", ["-5376", "8064"]),
    "--order 2": ("--order 2", ["24", "44"]),
}
ERROR_TAG = "raises-exception"
ERROR_TEXT = "unknown function 'sqaure'"
MIN_CONTRAST = 4.5


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> list[str]:
    missing = [] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (apt-get install chromium)"]
    missing += [f"python package {name}" for name in ("playwright", "jupyterlab")
                if importlib.util.find_spec(name) is None]
    return missing


# --------------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


class Lab:
    """A JupyterLab server on 127.0.0.1 with an empty token and its own settings, root and dirs."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.settings = base / "user-settings"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "server.log"
        self.proc: subprocess.Popen | None = None

    def set_theme(self, theme: str) -> None:
        """Write the user settings read by the next page load (tests run one at a time)."""
        ext = self.settings / "@jupyterlab"
        _write_json(ext / "apputils-extension" / "notification.jupyterlab-settings",
                    {"fetchNews": "false", "checkForUpdates": False})
        _write_json(ext / "apputils-extension" / "themes.jupyterlab-settings",
                    {"theme": THEMES[theme], "adaptive-theme": False})
        _write_json(ext / "notebook-extension" / "tracker.jupyterlab-settings", {"autoStartDefaultKernel": True})
        _write_json(ext / "docmanager-extension" / "plugin.jupyterlab-settings", {"autosave": False})

    def copy_demo(self, folder: str) -> str:
        """A fresh copy of demo.ipynb in its own folder (so a fresh kernel session); its tree path."""
        target = self.root / folder
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO, target / "demo.ipynb")
        return f"{folder}/demo.ipynb"

    def start(self) -> None:
        self.root.mkdir(parents=True)
        self.set_theme("light")
        env = dict(os.environ)
        for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
            env[var] = str(self.base / sub)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={self.settings}",
            f"--LabApp.workspaces_dir={self.base / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            "--NotebookNotary.db_file=:memory:",  # nothing is remembered as trusted between runs
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.base, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within 90 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server and its kernels
            self.proc.wait(timeout=10)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""


def _warm_matplotlib(env_base: Path) -> None:
    # a first import of matplotlib may build its font cache and say so on stderr, which would read as
    # an error output of the --plot cell; that is the machine's first run, not the notebook's fault
    subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], cwd=env_base, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    missing = _missing()
    if missing:
        message = "browser tests need " + ", ".join(missing)
        if _ci():
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("jupyterlab")
    _warm_matplotlib(base)
    server = Lab(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# --------------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------------

# The visible notebook panel's widget, found through the app exposed by expose_app_in_browser.
JS_PANEL = """
window.__visiblePanel = () => {
  const node = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!node || !window.jupyterapp) return null;
  return Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.node === node) || null;
};
"""

JS_READY = """(theme) => {
  if (!window.__visiblePanel) return false;
  const p = window.__visiblePanel();
  return !!p && p.context.isReady && p.sessionContext.session?.kernel?.status === 'idle'
    && document.body.dataset.jpThemeName === theme;
}"""

JS_CELLS = """() => window.__visiblePanel().content.widgets.map((w, index) => ({
  index,
  type: w.model.type,
  source: w.model.sharedModel.getSource(),
  tags: w.model.getMetadata('tags') || [],
  count: w.model.type === 'code' ? w.model.executionCount : null,
  trusted: w.model.trusted,
  outputs: w.model.type === 'code' ? w.model.outputs.toJSON().map(o => ({
    type: o.output_type, name: o.name || null, mimes: Object.keys(o.data || {}),
  })) : [],
}))"""

JS_RUN_FINISHED = """() => {
  const p = window.__visiblePanel();
  const prompts = Array.from(p.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent.trim());
  return p.sessionContext.session?.kernel?.status === 'idle'
    && p.content.widgets.filter(w => w.model.type === 'code').every(w => w.model.executionCount > 0)
    && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""

# For every element under root with text of its own: its text colour composited over its effective
# background (the ancestors' backgrounds blended up to the first opaque one, else white).
JS_CONTRAST = """(root) => {
  const parse = (s) => {
    const m = /^rgba?\\(([^)]*)\\)$/.exec(s.trim());
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!own) continue;
    const layers = [];
    let unparsed = null;
    for (let a = el; a; a = a.parentElement) {
      const c = parse(getComputedStyle(a).backgroundColor);
      if (!c) { unparsed = getComputedStyle(a).backgroundColor; break; }
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    const colorText = getComputedStyle(el).color;
    const fg0 = parse(colorText);
    if (!fg0 || unparsed) { out.push({tag: el.tagName, text: own.slice(0, 40), color: colorText, background: unparsed, ratio: null}); continue; }
    const fg = over(fg0, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({tag: el.tagName, text: own.slice(0, 40), color: colorText,
              background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')',
              ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100});
  }
  return out;
}"""


def open_notebook(browser, lab: Lab, folder: str, theme: str):
    """A new browser context showing a fresh copy of demo.ipynb, its kernel idle, in the theme."""
    path = lab.copy_demo(folder)
    lab.set_theme(theme)
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(JS_PANEL)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab/tree/{path}?reset")  # ?reset: no layout carried over from another test
    page.wait_for_function(JS_READY, arg=THEMES[theme], timeout=90_000)
    return context, page


def close_notebook(context, page) -> None:
    try:
        page.evaluate("() => Promise.race([window.jupyterapp.serviceManager.sessions.shutdownAll(),"
                      " new Promise(r => setTimeout(r, 10000))])")
    finally:
        context.close()


def panel(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def cells(page) -> list[dict]:
    return page.evaluate(JS_CELLS)


def cell_dom(page, model_cells: list[dict], index: int):
    dom = panel(page).locator(".jp-Cell")
    assert dom.count() == len(model_cells), "every cell of the notebook is in the DOM"
    return dom.nth(index)


def find_cell(model_cells: list[dict], fragment: str) -> dict:
    matches = [c for c in model_cells if c["type"] == "code" and fragment in c["source"]]
    assert matches, f"demo.ipynb has a code cell containing {fragment!r}"
    return matches[0]


def screenshots(page, name: str) -> list[Path]:
    """Scroll the notebook top to bottom, one viewport screenshot per step: NAME-01.png, ..."""
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    page.mouse.move(0, 0)
    scroller = panel(page).locator(".jp-WindowedPanel-outer").first
    files = []
    top = 0
    for i in range(1, 40):
        scroller.evaluate("(el, top) => { el.scrollTop = top; }", top)
        page.wait_for_timeout(250)  # let content-visibility lay the newly shown cells out
        path = ARTIFACTS / f"{name}-{i:02d}.png"
        page.screenshot(path=str(path))
        files.append(path)
        now, height, done = scroller.evaluate("""el => {
          const cells = el.querySelectorAll('.jp-Cell');
          const last = cells[cells.length - 1].getBoundingClientRect().bottom;
          return [el.scrollTop, el.clientHeight,
                  last <= el.getBoundingClientRect().bottom || el.scrollTop + el.clientHeight >= el.scrollHeight - 2];
        }""")
        if done:
            break
        top = now + int(height * 0.9)
    return files


def wait_for_pictures(page) -> None:
    """Give the mermaid graph and the plot time to be drawn before screenshots (asserted later)."""
    try:
        panel(page).locator(".jp-RenderedMermaid svg, .jp-RenderedMermaid img").first.wait_for(
            state="attached", timeout=20_000)
        page.wait_for_function("""() => Array.from(document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea img')).every(i => i.complete)""", timeout=10_000)
    except Exception:
        pass  # the assertions below say what is missing
    page.wait_for_timeout(300)


def table_texts(table) -> list[str]:
    return [t.strip() for t in table.locator("th, td").all_text_contents()]


def check_grad_tables(page, model_cells: list[dict]) -> None:
    """Each %%grad cell with known numbers shows a visible table.adiff-table holding them."""
    from playwright.sync_api import expect

    for label, (fragment, numbers) in EXPECTED.items():
        cell = find_cell(model_cells, fragment)
        tables = cell_dom(page, model_cells, cell["index"]).locator(".jp-OutputArea table.adiff-table")
        assert tables.count() >= 1, f"{label}: the cell's output has a table.adiff-table"
        table = tables.first
        table.scroll_into_view_if_needed()
        expect(table).to_be_visible()
        texts = table_texts(table)
        for number in numbers:
            assert number in texts, f"{label}: {number} is a cell of the table; the table reads {texts}"


def check_contrast(page, theme: str) -> list[dict]:
    results = []
    page.mouse.move(0, 0)  # no hover highlight on a table row
    for result in panel(page).locator(".adiff-result").all():
        results += result.evaluate(JS_CONTRAST)
    assert results, "there is %%grad output text to measure"
    bad = [r for r in results if r["ratio"] is None or r["ratio"] < MIN_CONTRAST]
    assert not bad, (f"{theme} theme: {len(bad)} of {len(results)} text elements in %%grad output read "
                     f"below contrast {MIN_CONTRAST}: {bad[:8]}")
    worst = min(results, key=lambda r: r["ratio"])
    print(f"{theme}: {len(results)} text elements in %%grad output, lowest contrast {worst}")
    return results


# --------------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("theme", ["light", "dark"])
def test_run_all_cells_shows_tables_graph_plot_and_only_the_expected_error(browser, lab, theme):
    from playwright.sync_api import expect

    context, page = open_notebook(browser, lab, f"run-{theme}", theme)
    try:
        # start from no outputs, so "every cell has an execution count" means "this run reached it"
        page.evaluate("() => Promise.race([window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs'),"
                      " new Promise(r => setTimeout(r, 10000))])")
        assert all(c["count"] is None for c in cells(page) if c["type"] == "code")
        page.evaluate("(ms) => Promise.race([window.jupyterapp.commands.execute('notebook:run-all-cells'),"
                      " new Promise(r => setTimeout(r, ms))])", RUN_TIMEOUT_S * 1000)
        try:
            page.wait_for_function(JS_RUN_FINISHED, timeout=RUN_TIMEOUT_S * 1000)
        except Exception:
            state = [(c["index"], c["count"], c["source"][:30]) for c in cells(page) if c["type"] == "code"]
            pytest.fail(f"run all cells did not finish: (index, count, source) {state}\n{lab.log_tail()}")
        wait_for_pictures(page)
        screenshots(page, f"run-all-{theme}")

        model_cells = cells(page)
        code = [c for c in model_cells if c["type"] == "code"]
        counts = [c["count"] for c in code]
        assert counts == sorted(counts) and len(set(counts)) == len(counts), f"cells ran in order: {counts}"

        check_grad_tables(page, model_cells)

        # --graph: the mermaid flowchart drawn as a picture, not shown as its source text
        graph = cell_dom(page, model_cells, find_cell(model_cells, "--graph")["index"])
        outputs = graph.locator(".jp-OutputArea")
        picture = outputs.locator(".jp-OutputArea-output svg, .jp-OutputArea-output img[src^='data:image/svg+xml']").first
        picture.scroll_into_view_if_needed()
        expect(picture).to_be_visible()
        box = picture.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"the graph picture has a size: {box}"
        if picture.evaluate("e => e.tagName") == "IMG":  # JupyterLab 4.6 draws mermaid as an SVG image
            assert picture.evaluate("e => e.complete && e.naturalWidth > 0"), "the graph image decoded"
            svg = picture.evaluate("e => decodeURIComponent(e.src.slice(e.src.indexOf(',') + 1))")
            assert "<svg" in svg and "Pow" in svg and "Add" in svg, "the picture is the graph of the cell"
        assert "flowchart LR" not in outputs.inner_text(), "mermaid source shown as text"

        # --plot: an image
        plot = cell_dom(page, model_cells, find_cell(model_cells, "--plot")["index"])
        image = plot.locator(".jp-OutputArea img").first
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        assert image.evaluate("e => e.complete && e.naturalWidth > 100"), "the plot image decoded"

        # errors: only the tagged cell, with the expected message
        for c in code:
            errors = [o for o in c["outputs"] if o["type"] == "error" or o["name"] == "stderr"]
            dom_errors = cell_dom(page, model_cells, c["index"]).locator(
                ".jp-OutputArea-output[data-mime-type*='stderr'], .jp-OutputArea-output[data-mime-type*='error']")
            if ERROR_TAG in c["tags"]:
                assert errors and dom_errors.count() >= 1, "the raises-exception cell shows its error"
                dom_errors.first.scroll_into_view_if_needed()
                expect(dom_errors.first).to_contain_text(ERROR_TEXT)
            else:
                assert not errors and dom_errors.count() == 0, (
                    f"cell {c['index']} ({c['source'][:40]!r}) shows an error: {errors}\n"
                    f"{dom_errors.all_inner_texts() if dom_errors.count() else ''}")
        assert any(ERROR_TAG in c["tags"] for c in code), f"one cell is tagged {ERROR_TAG}"

        check_contrast(page, theme)
    finally:
        close_notebook(context, page)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_untrusted_reopen_keeps_readable_tables(browser, lab, theme):

    context, page = open_notebook(browser, lab, f"untrusted-{theme}", theme)
    try:
        panel(page).locator("table.adiff-table").first.wait_for(state="attached", timeout=30_000)
        wait_for_pictures(page)
        screenshots(page, f"untrusted-{theme}")
        model_cells = cells(page)
        with_outputs = [c for c in model_cells if c["outputs"]]
        assert with_outputs and not any(c["trusted"] for c in with_outputs), \
            "a notebook opened from disk is untrusted (its outputs sanitised)"
        check_grad_tables(page, model_cells)
        check_contrast(page, theme)
        # a close-up of the first table, to judge the look by eye
        first = panel(page).locator(".adiff-result").first
        first.scroll_into_view_if_needed()
        first.screenshot(path=str(ARTIFACTS / f"untrusted-{theme}-table.png"))
    finally:
        close_notebook(context, page)
