"""The --step view without a kernel (adiff_magic/offline.py): the frames in the page's bundle give, step by
step, what the live stepper (StepModel.at) gives; the bundle carries the widget's own module and a folded
static copy of every step; %%grad --step displays it beside the widget, keyed to it."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from IPython.utils.capture import capture_output

import reference
from adiff_magic.offline import bundle, frames
from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run_recorded
from adiff_magic.stepper import step_model
from adiff_magic.tangentstep import forward_model_of

CELLS = {
    "seed": "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)",
    "diamond": "x = 2.0\na = x**2\ny = a**2 + a**2",
    "mlp": reference.MLP,
    "loop": "x = 0.5\ny = x\nfor k in range(2000):\n    y = y * 0.999 + x",
}


def model_of(cell: str, forward: bool = False):
    view = View(mode="forward" if forward else "reverse")
    recorded = run_recorded(parse(cell), {"np": np}, Options(mode=view.mode, view=view))[2]
    return step_model(recorded, frames=forward_model_of if forward else None)


def page_data(page: str) -> dict:
    """The JSON the page's script reads (as a browser would parse it: '<\\/' is '</')."""
    return json.loads(re.search(r"const data = (\{.*?\});\n", page, re.S).group(1))


def merged(shipped: list, k: int) -> dict:
    """What the page's script computes for step k (its at(k)): frame 0's gradients, updated by each step's."""
    grads = dict(shipped[0]["grads"])
    for frame in shipped[1:k + 1]:
        grads.update(frame["grads"])
    return {"highlight": shipped[k]["highlight"], "lines": shipped[k]["lines"], "grads": grads}


@pytest.mark.parametrize("forward", [False, True], ids=["backward", "forward"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_the_frames_give_the_live_steppers_states_at_every_step(name, forward):
    model = model_of(CELLS[name], forward)
    shipped = page_data(bundle(model, "k1")["text/html"])["frames"]
    assert shipped == json.loads(json.dumps(frames(model)))  # what is shipped is what frames() says
    assert len(shipped) == len(model.steps) + 1
    for k in range(len(model.steps) + 1):
        assert merged(shipped, k) == json.loads(json.dumps(model.at(k))), (name, k)


def test_the_page_carries_the_widgets_module_its_state_and_a_folded_copy():
    model = model_of(CELLS["seed"])
    page = bundle(model, "abc123")["text/html"]
    assert 'data-adiff-offline="abc123"' in page
    assert "return { render };" in page and "export default" not in page
    assert page.count("</script>") == 1  # the data never closes the script early
    data = page_data(page)
    assert data["state"]["svg"] == model.svg and data["state"]["total"] == 3
    assert data["state"]["paths"] == json.loads(json.dumps(model.paths))
    assert '<details class="adiff-offline-copy"><summary>all 3 steps' in page  # folded: no spoiler
    assert "ẏ" not in page and "3. line 2" in page  # the static copy: every step's text, in order


def test_the_text_form_lists_every_step():
    text = bundle(model_of(CELLS["seed"]), "k")["text/plain"]
    assert text.splitlines()[0] == "step through the backward pass"
    assert "3. line 2  a.creator = Square, input x → Square.backward(dy/da = 3.29744)" in text


def test_the_bundle_stays_bounded_as_the_cell_grows():
    small = len(bundle(model_of("x = 0.5\ny = x\nfor k in range(40):\n    y = y * 0.999 + x"), "k")["text/html"])
    large = len(bundle(model_of(CELLS["loop"]), "k")["text/html"])
    assert large <= 1.25 * small + 2_000 and large <= 150_000, (small, large)


def test_step_displays_the_offline_twin_keyed_to_the_widget(ip):
    pytest.importorskip("anywidget")
    with capture_output() as captured:
        view = ip.run_cell_magic("grad", "--step", CELLS["seed"])
    pages = [out.data["text/html"] for out in captured.outputs if 'data-adiff-offline' in out.data.get("text/html", "")]
    assert len(pages) == 1 and f'data-adiff-offline="{view.key}"' in pages[0]
    result_html = captured.outputs[0].data["text/html"]
    assert '<details class="adiff-trace"><summary>' in result_html  # the trace above is folded under --step
