"""Shared test setup: Hypothesis profiles and the IPython shell the magic tests drive.

Hypothesis: "default" (quick) unless HYPOTHESIS_PROFILE names another, e.g. "long".
"""
import os

import pytest
from hypothesis import settings
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

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
