"""Shared test setup: Hypothesis profiles, and the fixtures several test modules use: the IPython
shell the magic tests drive (`shell`, `ip`), `grad` (run a %%grad cell in it), the seed chain as a
cell (`seed_cell`) and a user Function with a wrong backward (`wrong_square`).

Plain helpers that are not fixtures (the oracle, tolerances, the seed notebook's cells, table
readers) are in tests/reference.py; the JupyterLab harness of the browser tests is tests/lab_harness.py.
No test module imports another.

Hypothesis: "default" (quick) unless HYPOTHESIS_PROFILE names another, e.g. "long".
"""
import importlib.util
import os
import textwrap

import pytest
from hypothesis import settings
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from engine import Function

# the default run (CI's) draws the same examples every time, so it cannot turn red by chance;
# the long profile explores new ones on each run
settings.register_profile("default", max_examples=60, deadline=None, derandomize=True, database=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def shell():
    """IPython's InteractiveShell (one per process) with the extension loaded and history in memory."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "adiff_magic")
    yield ip


@pytest.fixture
def ip(shell):
    """The shell with a fresh namespace for each test."""
    shell.reset()
    yield shell
    shell.reset()


@pytest.fixture
def grad(ip):
    """``grad(cell, line="")`` runs ``%%grad line`` on the cell (dedented) in the ``ip`` shell and
    returns what the magic returns: the GradResult, or None with --quiet. Errors propagate."""

    def run_grad(cell, line=""):
        return ip.run_cell_magic("grad", line, textwrap.dedent(cell))

    return run_grad


@pytest.fixture
def seed_cell():
    """The seed notebook's chain as a %%grad cell: x = 0.5, a = x², b = e^a, y = b²
    (y = 1.648721270700128, dy/dx = dy/da = 3.297442541400256, dy/db = 2.568050833375483)."""
    return "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"


class WrongSquare(Function):
    """x², with a backward that is wrong: 3x instead of 2x."""

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 3 * self.inputs[0].data * gy  # should be 2x


@pytest.fixture
def wrong_square():
    """A user Function class whose backward is wrong (x² differentiated as 3x), for --check to flag."""
    return WrongSquare


# ---------------------------------------------------------------- the browser tests' JupyterLab and Chromium
# Session-wide: one server and one Playwright for test_browser.py and test_browser_step.py (two sync
# Playwrights cannot run at once).


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server (lab_harness.Lab), or a skip (a failure when CI is set) without its tools."""
    from lab_harness import Lab, _ci, _missing, _warm_matplotlib

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
    """Debian's headless Chromium, driven by Playwright."""
    from lab_harness import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def step_lab(lab):
    """The session's JupyterLab, once anywidget and the widget frontend are known to be there (--step tests)."""
    from lab_harness import _ci

    missing = [f"python package {name}" for name in ("anywidget", "ipywidgets", "jupyterlab_widgets")
               if importlib.util.find_spec(name) is None]
    if missing:
        message = "the --step browser test needs " + ", ".join(missing)
        if _ci():
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(message)
    return lab
