"""Tests for adiff_magic.tangentstep: the --step --mode forward view's model, one forward-mode pass
stepped function by function in the order the forward pass ran, against hand-derived tangents."""
import json
import math
import re

import numpy as np
import pytest

from adiff_magic.graph import MAX_NODES
from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run_recorded
from adiff_magic.stepper import step_model
from adiff_magic.tangentstep import forward_model_of

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
LOGREG = "w = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\nloss = -(t*log(p) + (1-t)*log(1-p))"


def recorded(cell: str, wrt=None):
    view = View(mode="forward")
    return run_recorded(parse(cell), {"np": np}, Options(wrt=wrt, mode="forward", view=view))[2]


def model(cell: str, values=None, wrt=None):
    return step_model(recorded(cell, wrt), values, frames=forward_model_of)


def keys(svg: str) -> dict:
    """Variable name -> node key, from the picture's node groups."""
    pairs = re.findall(r'data-key="(\w+)" data-kind="variable">.*?<text[^>]*>([^<]*)</text>', svg)
    return {name: key for key, name in pairs}


def test_the_seed_chain_steps_forward_by_hand():
    """ȧ = 2x·ẋ = 1; ḃ = e^a·ȧ = e^0.25; ẏ = 2b·ḃ = 2e^0.5: in the order the forward pass ran."""
    m = model(SEED)
    key = keys(m.svg)
    assert m.forward and len(m.steps) == 3
    start = m.at(0)
    assert start["grads"][key["x"]] == "1" and start["grads"][key["y"]] == ""
    assert start["lines"] == ["ẋ = 1 seeds the pass (the other inputs' tangents are 0); press ▶ (or →) to run the "
                              "first function's forward-mode rule (jvp)"]
    expected = [("a", "ȧ = 2·x·ẋ = 1 × 1 = 1", "1"), ("b", "ḃ = e^a·ȧ = 1.28403 × 1 = 1.28403", f"{math.exp(0.25):.6g}"),
                ("y", "ẏ = 2·b·ḃ = 2.56805 × 1.28403 = 3.29744", f"{2 * math.exp(0.5):.6g}")]
    for k, (name, sentence, tangent) in enumerate(expected, 1):
        frame = m.at(k)
        assert frame["highlight"]["output"] == key[name] and frame["highlight"]["forward"] is True
        assert frame["lines"][1] == sentence and frame["grads"][key[name]] == tangent
    assert m.at(1)["highlight"]["inputs"] == [key["x"]]
    assert m.words["view"] == "step through the forward pass: the tangent of x"


def test_a_click_gives_the_tangent_and_the_step_that_made_it():
    m = model(SEED)
    key = keys(m.svg)
    assert m.paths[key["x"]] == ["ẋ = 1: the pass starts here"]
    assert m.paths[key["b"]] == ["ḃ = db/dx = 1.28403", "made by step 2: ḃ = e^a·ȧ = 1.28403 × 1 = 1.28403"]


def test_a_slider_moves_the_pass():
    """At x = 1: y = e^(2x²), dy/dx = 4x·e^(2x²) = 4e² = 29.5562."""
    m = model(SEED, {"x": 1.0})
    assert m.at(3)["grads"][keys(m.svg)["y"]] == f"{4 * math.exp(2):.6g}"


def test_the_first_scalar_input_is_seeded_and_wrt_chooses_another():
    m = model(LOGREG)
    assert m.notes[0] == "the pass of w (one of 4 scalar inputs; --wrt x steps that one's)"
    # the last step, Neg: dloss/dw = −1 (p − t)·x = −½·2
    assert m.at(len(m.steps))["lines"][1].endswith("= (-1) × 1 = -1")
    key = keys(m.svg)
    assert m.paths[key["x"]] == ["ẋ = 0: another input, held still in the pass of w"]
    mx = model(LOGREG, wrt=("x",))
    assert mx.words["view"].endswith("the tangent of x")
    assert mx.at(len(mx.steps))["lines"][1].endswith("= (-1) × 0.25 = -0.25")  # dloss/dx = (p − t)·w = −¼


def test_arrays_step_with_their_values():
    m = model("x = 0.5\ny = x * np.array([1.0, 2.0])\ns = sum(y)")
    assert [frame[1] for frame in (m.steps[0].lines, m.steps[1].lines)] == ["ẏ = jvp(ẋ) = [1, 2]", "ṡ = jvp(ẏ) = 3"]


def test_no_scalar_input_means_no_pass_and_says_so():
    m = model("x = np.array([1.0, 2.0])\ny = sum(x * x)")
    assert m.steps == () and m.notes == ("forward stepping pushes the tangent of a scalar input, and this cell has none",)
    assert m.at(0)["lines"] == [m.notes[0]]


def test_a_long_loop_steps_through_the_part_drawn_and_stays_small():
    m = model("x = 0.5\ny = x\nfor k in range(2000):\n    y = y * 0.999 + x")
    assert 0 < len(m.steps) <= MAX_NODES
    assert len(json.dumps(m.paths)) < 20_000
    assert max(len(json.dumps(m.at(k))) for k in range(len(m.steps) + 1)) < 8_000


def test_the_widget_steps_the_forward_pass():
    pytest.importorskip("anywidget")
    from adiff_magic.widget import StepView

    view = StepView(recorded(SEED))
    assert view.total == 3 and view.highlight["forward"] is True
    view.step = 3
    assert view.grads[keys(view.svg)["y"]] == f"{2 * math.exp(0.5):.6g}"
    view.values = {"x": 1.0}
    assert view.grads[keys(view.svg)["y"]] == f"{4 * math.exp(2):.6g}"
    assert "a forward pass to y" in repr(view)


def test_the_legend_speaks_of_the_tangent():
    words = model(SEED).words
    assert (words["legend from"], words["legend to"], words["legend pick"]) == (
        "where its tangent comes from", "where it goes", "the variable whose tangent is shown")
