"""Tests for adiff_magic.stepper: the --step view's model, step by step and at other input values,
against hand-derived numbers and the engine's own backward."""
import math
import re

import numpy as np
import pytest

from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run_recorded
from adiff_magic.stepper import step_model
from engine import Variable, exp, square

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"


def recorded(cell: str, **view):
    return run_recorded(parse(cell), {"np": np}, Options(view=View(**view)))[2]


def names(svg: str) -> dict:
    """Node key -> the node's first text (its name) in the picture."""
    groups = re.findall(r'<g class="adiff-node" data-key="(\w+)" data-kind="\w+">.*?<text[^>]*>([^<]*)</text>', svg)
    return dict(groups)


def six(value: float) -> str:
    return f"{value:.6g}"


def test_the_seed_step_by_step():
    model = step_model(recorded(SEED))
    name = names(model.svg)
    key = {text: k for k, text in name.items()}
    db, da = 2 * math.exp(0.25), 2 * math.exp(0.25) * math.exp(0.25)  # dy/db = 2b, dy/da = 2b·eᵃ, by hand
    before = model.at(0)
    assert before["highlight"]["function"] == "" and before["grads"][key["y"]] == "1"
    assert all(before["grads"][key[n]] == "" for n in "xab")  # blank until a step passes them a gradient
    expected = [("Square", "y", "b", six(db)), ("Exp", "b", "a", six(da)), ("Square", "a", "x", six(da))]
    for k, (function, output, into, grad) in enumerate(expected, start=1):
        view = model.at(k)
        assert name[view["highlight"]["function"]] == function
        assert name[view["highlight"]["output"]] == output
        assert [name[i] for i in view["highlight"]["inputs"]] == [into]
        assert view["grads"][key[into]] == grad
        assert f"{output}.creator = {function}, input {into}" in view["lines"][0]
    assert model.at(3)["grads"][key["b"]] == six(db)  # earlier steps' gradients stay shown
    assert model.at(99) == model.at(3) and model.at(-1) == model.at(0)


def test_a_second_path_shows_the_sum_on_its_step():
    model = step_model(recorded("x = 2.0\na = x**2\ny = a**2 + a**2\n"))
    key = {text: k for k, text in names(model.svg).items()}
    # d(a²)/da = 2a = 8 per path: the second Pow step adds 8 to 8
    shown = [model.at(k)["grads"][key["a"]] for k in range(1, len(model.steps) + 1)]
    assert shown == ["", "8", "8 → 16", "16"]
    assert model.at(4)["grads"][key["x"]] == "64"


def test_other_values_re_evaluate_the_recorded_graph_like_the_engine():
    rec = recorded(SEED)
    first = step_model(rec)
    model = step_model(rec, {"x": 1.0}, first.inputs)
    x = Variable(1.0)
    y = square(exp(square(x)))
    y.backward()
    key = {text: k for k, text in names(model.svg).items()}
    assert model.at(3)["grads"][key["x"]] == six(float(x.grad)) == six(4 * math.exp(2.0))  # 29.5562
    assert "value 7.38906" in model.svg  # y = e² at x = 1
    assert model.inputs[0]["value"] == 1.0
    assert (model.inputs[0]["min"], model.inputs[0]["max"]) == (first.inputs[0]["min"], first.inputs[0]["max"])
    assert float(rec.target.data) == pytest.approx(math.exp(0.5))  # the recorded run is untouched
    assert rec.inputs[0][1].grad == pytest.approx(2 * math.exp(0.5))


def test_a_branch_on_a_value_is_kept_and_the_view_says_so():
    rec = recorded("x = -0.5\nif x > 0:\n    y = x * 2\nelse:\n    y = -x\n")
    model = step_model(rec, {"x": 1.0})
    key = {text: k for k, text in names(model.svg).items()}
    assert model.at(1)["grads"][key["x"]] == "-1"  # still y = -x: the branch the cell took at x = -0.5
    assert any("keeps the branches" in note and "line 2" in note for note in model.notes)


def test_sliders_for_single_numbers_only_and_paths_per_variable():
    model = step_model(recorded("z = np.array([1.0, 2.0, 0.5])\nw = 0.5\np = softmax(z * w)\nloss = -log(p[1])\n"))
    assert [spec["name"] for spec in model.inputs] == ["w"]
    spec = model.inputs[0]
    assert spec["min"] < 0.5 < spec["max"] and spec["step"] > 0
    assert any("single numbers" in note for note in model.notes)
    model = step_model(recorded(SEED))
    key = {text: k for k, text in names(model.svg).items()}
    assert model.paths[key["x"]] == ["dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1 = 3.29744"]
    assert model.paths[key["y"]] == ["dy/dy = 1"]


def test_the_words_follow_the_language():
    model = step_model(recorded(SEED, lang="ko"))
    assert "단계" in model.words["step_of"] and "줄 line 4" in model.at(1)["lines"][0]


def test_an_array_target_is_seeded_with_ones_and_shown_as_such():
    model = step_model(recorded("x = np.array([1.0, 2.0])\ny = x * x\n"))
    key = {text: k for k, text in names(model.svg).items()}
    assert model.at(0)["grads"][key["y"]] == "[1, 1] (2,)"  # seeded with ones, not their sum
    assert model.at(1)["grads"][key["x"]] == "[1, 2] → [2, 4] (2,)"  # x * x passes x to x twice: 2x in all
    assert model.inputs == () and not any("sliders re-evaluate" in note for note in model.notes)


@pytest.mark.parametrize("cell", [
    "x = 0.5\nc = 2.0\ny = sin(x)\n",  # issue 15: KeyError at stepper.py:110
    "x = 0.5\neps = 1e-4\ny = sin(x)\nslope = (sin(x + eps) - sin(x - eps)) / (2 * eps)\ny = sin(x)\n",
    "x = np.array([1.0, 2.0])\nunused = np.ones(3)\ny = sum(x * x)\n",
])
def test_an_input_that_misses_the_target_shows_no_path(cell):
    rec = recorded(cell)
    missing = [name for name, v in rec.inputs if name in ("c", "eps", "unused")]
    model = step_model(rec)
    assert any(f"no path from {missing[0]} to {rec.target_name}" in note for note in model.notes)
    final = model.at(len(model.steps))["grads"]
    assert final  # it still steps to the end
    scalars = {spec["name"] for spec in model.inputs}
    assert (missing[0] in scalars) == (np.ndim(dict(rec.inputs)[missing[0]].data) == 0)
    if missing[0] in scalars:  # moving it changes nothing
        moved = step_model(rec, {missing[0]: 3.0}, model.inputs)
        assert moved.at(len(moved.steps))["grads"] == final


def test_a_long_run_steps_through_the_part_drawn_and_says_so():
    # every view bounded: 2,000 backward steps, the picture draws the 60 nodes nearest the target
    rec = recorded("x = 0.5\ny = x\nfor k in range(1000):\n    y = sin(y) + x\n")
    model = step_model(rec)
    drawn = set(names(model.svg))
    assert 0 < len(model.steps) < 60 and all(step.function in drawn for step in model.steps)
    assert any(f"steps through the {len(model.steps):,} steps on the part of the graph it draws" in note
               and "all 2,000 ran" in note for note in model.notes)
    assert len(model.paths) <= 60


def test_sliders_for_a_handful_of_inputs_and_a_note_for_the_rest():
    rec = recorded("w = 1.0\nfor i in range(30):\n    lr = 0.01\n    w = w - lr * w\nloss = w\n")
    model = step_model(rec)
    names_ = [spec["name"] for spec in model.inputs]
    assert {"w#1", "lr#1", "lr"} <= set(names_)  # the last name and the first bindings come first
    assert len(names_) == 10 and "sliders for 10 of the 31 scalar inputs" in " ".join(model.notes)
    moved = step_model(rec, {"lr": 0.02}, model.inputs)  # a move keeps the same sliders
    assert [spec["name"] for spec in moved.inputs] == names_


def test_a_moved_slider_says_where_the_view_is_and_where_the_output_above_stays():
    model = step_model(recorded(SEED), {"x": 1.0})
    assert model.notes[0] == "this view is at x = 1; the table and the trace above stay at x = 0.5, the values the cell ran with"
    back = step_model(recorded(SEED), {"x": 0.5})
    assert back.notes[0] == "this view is at the values the cell ran with, as the table and the trace above"
    assert "this view is at" not in " ".join(step_model(recorded(SEED)).notes)  # not moved: nothing to say


def test_the_page_is_given_the_legend_of_the_marks():
    words = step_model(recorded(SEED)).words
    assert (words["legend hot"], words["legend from"], words["legend to"], words["legend pick"]) == (
        "the function that runs", "where its gradient comes from", "where it goes",
        "the variable whose chain rule is shown")


def test_quiz_questions_by_hand():
    """The seed's first step, Square: ∂y/∂b = 2b = 2e^0.25 = 2.56805, passed 1 × that; the rule in the
    cell's letters first, then with the numbers."""
    model = step_model(recorded(SEED, quiz=True))
    assert len(model.quiz) == len(model.steps) == 3
    (first,) = model.quiz[0]
    assert first["local_name"] == "∂y/∂b" and first["grad_name"] == "dy/db"
    assert first["local"] == pytest.approx(2 * math.exp(0.25)) and first["grad"] == pytest.approx(2 * math.exp(0.25))
    assert (first["rule"], first["numbers"]) == ("2·b", "2·1.28403 = 2.56805")
    assert first["product"] == "dy/dy × ∂y/∂b = 1 × 2.56805 = 2.56805"
    (last,) = model.quiz[2]  # Square at x: ∂a/∂x = 2x = 1, dy/dx = 2e^0.5 × 1
    assert last["local"] == 1.0 and last["grad"] == pytest.approx(2 * math.exp(0.5))
    assert step_model(recorded(SEED)).quiz == ()  # off unless asked


def test_quiz_asks_nothing_of_an_array_step():
    model = step_model(recorded("x = np.array([1.0, 2.0])\ny = sum(x * x)", quiz=True))
    assert all(questions == [] for questions in model.quiz)
