"""Tests for adiff_magic.widget: the --step view's synced state, step by step and with a slider moved,
as the page would see it; and that plain %%grad never imports anywidget."""
import json
import math
import os
import subprocess
import sys

import pytest

anywidget = pytest.importorskip("anywidget") if not os.environ.get("CI") else __import__("anywidget")

from adiff_magic.parser import parse  # noqa: E402
from adiff_magic.runner import run_recorded  # noqa: E402
from adiff_magic.widget import StepView  # noqa: E402

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"


def seed_view() -> StepView:
    return StepView(run_recorded(parse(SEED), {})[2])


def by_name(view: StepView) -> dict:
    """Variable name -> node key, read from the node groups of the picture."""
    import re

    pairs = re.findall(r'data-key="(\w+)" data-kind="variable">.*?<text[^>]*>([^<]*)</text>', view.svg)
    return {name: key for key, name in pairs}


def test_the_state_follows_the_step_and_is_clamped():
    view = seed_view()
    key = by_name(view)
    assert (view.total, view.step) == (3, 0) and view.grads[key["y"]] == "1" and view.grads[key["x"]] == ""
    view.step = 1
    assert view.grads[key["b"]] == f"{2 * math.exp(0.25):.6g}"  # dy/db = 2b: 2.56805
    assert "y.creator = Square" in view.lines[0] and view.highlight["output"] == key["y"]
    view.step = 3
    assert view.grads[key["x"]] == f"{2 * math.exp(0.5):.6g}"  # 3.29744
    view.step = 7
    assert view.step == 3  # clamped to the last step
    view.step = 2
    assert view.grads[key["x"]] == "" and view.highlight["inputs"] == [key["a"]]


def test_a_slider_value_recomputes_everything_and_keeps_the_step():
    view = seed_view()
    view.step = 3
    view.values = {"x": 1.0}
    key = by_name(view)
    assert view.error == "" and view.step == 3
    assert view.grads[key["x"]] == f"{4 * math.exp(2.0):.6g}"  # 4x·e^(2x²) at x = 1: 29.5562
    assert view.inputs[0]["value"] == 1.0


def test_a_bad_value_is_an_error_and_changes_nothing():
    view = seed_view()
    svg = view.svg
    view.values = {"x": float("nan")}
    assert "finite" in view.error and view.svg == svg
    view.values = {"x": 0.25}
    assert view.error == "" and view.svg != svg


def test_the_state_is_small_plain_data():
    state = seed_view().get_state()
    state = {k: v for k, v in state.items() if not k.startswith("_")}
    text = json.dumps(state)  # raises on anything that is not plain data
    assert len(text) < 50_000


def test_plain_grad_never_imports_anywidget(tmp_path):
    code = ("from IPython.core.interactiveshell import InteractiveShell\nimport sys\n"
            "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'adiff_magic')\n"
            "ip.run_cell_magic('grad', '--graph', 'x = 0.5\\ny = square(x)')\n"
            "print('anywidget' in sys.modules, 'ipywidgets' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, IPYTHONDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False False"


from reference import MLP  # noqa: E402  (the two-layer network, shared)
LOOP = "x = 0.5\ny = x\nfor k in range(1000):\n    y = sin(y) + x\n"  # 2,000 backward steps


@pytest.mark.parametrize("cell, most", [(MLP, 14_000), (LOOP, 25_000)], ids=["mlp", "loop-2000-steps"])
def test_the_state_stays_bounded_at_every_step(cell, most):
    # measured (issue 17): the MLP's state is 12.2 kB besides its picture (15 kB), 4.1 kB of it the sentences of
    # its 19 clickable elements and 1.5 kB the matrix chains of its array variables (at most 8 lines each); the loop's 15.6 kB besides its picture of the 60 nodes nearest the target
    # (65 kB); the picture is graph.py's, bounded loosely
    import numpy as np

    view = StepView(run_recorded(parse(cell), {"np": np})[2])
    for k in range(view.total + 1):
        view.step = k
        state = {key: v for key, v in view.get_state().items() if not key.startswith("_")}
        rest = len(json.dumps({key: v for key, v in state.items() if key != "svg"}))
        assert rest < most and len(state["svg"]) < 150_000, f"step {k}: {rest:,} chars besides the picture"
