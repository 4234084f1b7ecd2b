"""The JupyterLab harness of the browser tests: a server on 127.0.0.1 with its own settings, a
headless Chromium page per notebook (Playwright), and the helpers that read and drive it. Not a
test module: test_browser.py and test_browser_step.py import it."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

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


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> list[str]:
    missing = [] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (apt-get install chromium)"]
    missing += [f"python package {name}" for name in ("playwright", "jupyterlab", "PIL", "nbformat")
                if importlib.util.find_spec(name) is None]
    return missing


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

    def put(self, folder: str, name: str, text: str) -> str:
        """A notebook in its own folder (so a fresh kernel session); its tree path."""
        target = self.root / folder
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text, encoding="utf-8")
        return f"{folder}/{name}"

    def copy_demo(self, folder: str) -> str:
        return self.put(folder, "demo.ipynb", DEMO.read_text(encoding="utf-8"))

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
    text: [].concat((o.data || {})['text/plain'] ?? o.text ?? []).join(''),
  })) : [],
}))"""


JS_RUN_FINISHED = """() => {
  const p = window.__visiblePanel();
  const prompts = Array.from(p.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent.trim());
  return p.sessionContext.session?.kernel?.status === 'idle'
    && p.content.widgets.filter(w => w.model.type === 'code').every(w => w.model.executionCount > 0)
    && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""


def notebook_of(*sources: str) -> str:
    """A Python 3 notebook whose code cells are ``sources``, as the text of an .ipynb file."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.writes(nb)


def open_notebook(browser, lab: Lab, path: str, theme: str, zoom: float = 1.0):
    """A new browser context showing the notebook at the tree path, its kernel idle, in the theme.
    With zoom, the VIEWPORT screen at that browser zoom: zoom times fewer CSS px, each zoom device px."""
    lab.set_theme(theme)
    viewport = {key: round(value / zoom) for key, value in VIEWPORT.items()}
    context = browser.new_context(viewport=viewport, device_scale_factor=zoom)
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


def command(page, name: str, args: dict | None = None, timeout_ms: int = 10_000) -> None:
    """Execute a JupyterLab command, giving up waiting after timeout_ms."""
    page.evaluate("([name, args, ms]) => Promise.race([window.jupyterapp.commands.execute(name, args),"
                  " new Promise(r => setTimeout(r, ms))])", [name, args or {}, timeout_ms])


def run_all_cells(page, lab: Lab) -> None:
    """Clear every output, run all cells and wait until each code cell has run."""
    # start from no outputs, so "every cell has an execution count" means "this run reached it"
    command(page, "notebook:clear-all-cell-outputs")
    assert all(c["count"] is None for c in cells(page) if c["type"] == "code")
    command(page, "notebook:run-all-cells", timeout_ms=RUN_TIMEOUT_S * 1000)
    try:
        page.wait_for_function(JS_RUN_FINISHED, timeout=RUN_TIMEOUT_S * 1000)
    except Exception:
        state = [(c["index"], c["count"], c["source"][:30]) for c in cells(page) if c["type"] == "code"]
        pytest.fail(f"run all cells did not finish: (index, count, source) {state}\n{lab.log_tail()}")


def switch_theme(page, theme: str) -> None:
    """Change the theme of the open page (JupyterLab's own command, as the Settings menu does)."""
    command(page, "apputils:change-theme", {"theme": THEMES[theme]})
    page.wait_for_function("(t) => document.body.dataset.jpThemeName === t", arg=THEMES[theme], timeout=20_000)
    page.wait_for_timeout(800)  # the theme's CSS applied and the images repainted


def panel(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def cells(page) -> list[dict]:
    return page.evaluate(JS_CELLS)


def cell_dom(page, model_cells: list[dict], index: int):
    dom = panel(page).locator(".jp-Cell")
    deadline = time.monotonic() + 10
    while dom.count() != len(model_cells) and time.monotonic() < deadline:
        page.wait_for_timeout(200)  # a loaded machine: JupyterLab may still be attaching the last cells
    assert dom.count() == len(model_cells), "every cell of the notebook is in the DOM"
    return dom.nth(index)


def find_cell(model_cells: list[dict], fragment: str) -> dict:
    matches = [c for c in model_cells if c["type"] == "code" and fragment in c["source"]]
    assert matches, f"the notebook has a code cell containing {fragment!r}"
    return matches[0]


def screenshots(page, name: str) -> list[Path]:
    """Scroll the notebook top to bottom, one viewport screenshot per step: NAME-01.png, ..."""
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-[0-9][0-9].png"):
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


def close_up(page, locator, name: str) -> Path:
    """A screenshot of one element: tests/artifacts/NAME.png. JupyterLab scrolls inside the notebook,
    not the page, so for an element taller than the notebook's view the window is made taller meanwhile
    (same width, so the same layout)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = locator.evaluate("e => e.getBoundingClientRect().height")
    taller = height + 250 > size["height"]
    if taller:
        page.set_viewport_size({"width": size["width"], "height": min(round(height) + 250, 6000)})
        page.wait_for_timeout(500)
    try:
        locator.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.mouse.move(0, 0)
        page.wait_for_timeout(100)
        locator.screenshot(path=str(path))
    finally:
        if taller:
            page.set_viewport_size(size)
            page.wait_for_timeout(300)
    return path


def table_texts(table) -> list[str]:
    return [t.strip() for t in table.locator("th, td").all_text_contents()]
