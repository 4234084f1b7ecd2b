"""Tests for the --step view's clickable elements (issue 17): a click on W1, then on its [0, 1], gives
dloss/dW1[0,1] as the sum over the paths through the elements it touches. The step model carries each
element's sentence; the expected numbers are the 2-layer network's partial derivatives written out by
hand (∂loss/∂y = 2(y − t), ∂y[0,0]/∂h[0,k] = W2[k,0], ∂h[0,k]/∂W1[j,k] = x[0,j](1 − h[0,k]²)),
computed in plain numpy, never by the engine."""
import json

import numpy as np
import pytest

from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run_recorded
from adiff_magic.stepper import ELEMENT_CHARS, MAX_CLICKABLE, step_model

from reference import MLP  # noqa: E402  (the two-layer network, shared)

X = np.array([[0.5, -1.0]])
W1 = np.array([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]])
B1 = np.array([0.01, 0.02, 0.03])
W2 = np.array([[0.7], [-0.8], [0.9]])
T = 1.0


def by_hand() -> dict:
    """The network's element partials: ∂loss/∂y[0,0], ∂y[0,0]/∂h[0,k], ∂h[0,k]/∂W1[j,k], ∂h[0,k]/∂x[0,j]."""
    h = np.tanh(X @ W1 + B1)
    y = (h @ W2)[0, 0]
    slope = 1 - h[0] ** 2  # tanh' at h's argument
    return {"dy": 2 * (y - T), "dh": W2[:, 0], "dW1": X[0][:, None] * slope, "dx": W1 * slope}


def num(v: float) -> str:
    """A number as the sentence writes it inside a product or a sum: six digits, a negative in parentheses."""
    text = f"{v:.6g}"
    return f"({text})" if text.startswith("-") else text


def recorded(cell: str, **view):
    return run_recorded(parse(cell), {"np": np}, Options(view=View(**view)))[2]


def by_name(model) -> dict:
    """Array name -> its entry of model.elements, with the node key under 'key'."""
    return {entry["name"]: {**entry, "key": key} for key, entry in model.elements.items()}


@pytest.fixture(scope="module")
def mlp():
    return step_model(recorded(MLP))


@pytest.mark.parametrize("j, k", [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_each_w1_element_is_one_path_through_h_by_hand(mlp, j, k):
    hand = by_hand()
    w1 = by_name(mlp)["W1"]
    assert w1["shape"] == [2, 3] and w1["rows"] == 2 and len(w1["sentences"]) == 6
    first, second = w1["sentences"][3 * j + k].split("\n")
    lead = f"dloss/dW1[{j},{k}] = "
    assert first == lead + f"∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,{k}] · ∂h[0,{k}]/∂W1[{j},{k}]"
    factors = [hand["dy"], hand["dh"][k], hand["dW1"][j, k]]
    total = factors[0] * factors[1] * factors[2]
    assert second == " " * (len(lead) - 2) + "= " + " × ".join(num(v) for v in factors) + f" = {total:.6g}"
    assert w1["values"][3 * j + k] == f"{total:.6g}"


def test_the_sentence_of_w1_0_1_is_the_issues():
    w1 = by_name(step_model(recorded(MLP)))["W1"]
    assert w1["sentences"][1] == ("dloss/dW1[0,1] = ∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,1] · ∂h[0,1]/∂W1[0,1]\n"
                                  "               = (-4.45071) × (-0.8) × 0.348129 = 1.23954")


def test_x_0_1_sums_three_paths_one_through_each_h(mlp):
    hand = by_hand()
    first, second = by_name(mlp)["x"]["sentences"][1].split("\n")
    paths = [f"∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,{k}] · ∂h[0,{k}]/∂x[0,1]" for k in range(3)]
    assert first == "dloss/dx[0,1] = " + " + ".join(paths)
    products = [hand["dy"] * hand["dh"][k] * hand["dx"][1, k] for k in range(3)]
    numbers = " + ".join(" × ".join(num(v) for v in (hand["dy"], hand["dh"][k], hand["dx"][1, k])) for k in range(3))
    assert second.strip() == f"= {numbers} = {' + '.join(num(p) for p in products)} = {sum(products):.6g}"


def test_every_named_array_of_the_network_is_clickable_with_its_gradient(mlp):
    hand = by_hand()
    arrays = by_name(mlp)
    assert set(arrays) == {"x", "W1", "b1", "W2", "t", "h", "y"}  # loss is the target, a single number
    assert arrays["h"]["values"] == [f"{hand['dy'] * w:.6g}" for w in hand["dh"]]
    assert arrays["W2"]["values"] == [f"{hand['dy'] * v:.6g}" for v in np.tanh(X @ W1 + B1)[0]]
    assert arrays["t"]["sentences"] == [f"dloss/dt[0,0] = ∂loss/∂t[0,0] = {-hand['dy']:.6g}"]
    for entry in arrays.values():  # the grid stands for the gradient's lines, and the last line says to click
        lines = mlp.paths[entry["key"]]
        assert lines[0].startswith(f"dloss/d{entry['name']}, shape ")
        assert "click an element" in lines[-1] and "written for single numbers" not in lines[-1]


def test_an_array_of_more_than_36_elements_gets_a_note_and_no_elements():
    cell = "W = np.ones((6, 7)) * 0.1\nv = np.ones((7, 1))\nS = np.ones((6, 6))\nloss = sum(matmul(W, v) ** 2) + sum(S)\n"
    model = step_model(recorded(cell))
    arrays = by_name(model)
    assert MAX_CLICKABLE == 36 and set(arrays) == {"v", "S"}  # 7 and exactly 36 elements
    w = next(lines for lines in model.paths.values() if lines[0].startswith("dloss/dW, shape (6, 7)"))
    assert w[-1] == ('W has 42 elements: the elements are clickable for arrays of at most 36; '
                     '--wrt "W[0,0]" writes one element\'s chain rule in the text')
    # dloss/dv[i] = Σ_r 2·(Wv)[r]·W[r,i] = 6 · 2 · 0.7 · 0.1, by hand
    assert arrays["v"]["values"] == [f"{6 * 2 * 0.7 * 0.1:.6g}"] * 7
    assert arrays["S"]["sentences"][35] == "dloss/dS[5,5] = ∂loss/∂S[5,5] = 1"


def test_korean_notes_are_parallel():
    cell = "W = np.ones((6, 7)) * 0.1\nv = np.ones((7, 1))\nloss = sum(matmul(W, v) ** 2)\n"
    model = step_model(recorded(cell, lang="ko"))
    last = [lines[-1] for lines in model.paths.values()]
    assert any(line.startswith("W의 원소 42개") and "W has 42 elements" in line for line in last)
    assert any(line.startswith("원소를 누르면") for line in last)
    assert model.words["element hint"].startswith("원소를 누르면") and "click an element" in model.words["element hint"]


def test_a_slider_recomputes_the_sentences():
    rec = recorded("w = 2.0\nv = np.array([1.0, 3.0])\nloss = sum(w * v ** 2)\n")
    first = step_model(rec)
    assert by_name(first)["v"]["sentences"] == ["dloss/dv[0] = ∂loss/∂v[0] = 4", "dloss/dv[1] = ∂loss/∂v[1] = 12"]
    moved = step_model(rec, {"w": 0.5}, first.inputs)  # dloss/dv = 2·w·v by hand: 1 and 3
    assert by_name(moved)["v"]["sentences"] == ["dloss/dv[0] = ∂loss/∂v[0] = 1", "dloss/dv[1] = ∂loss/∂v[1] = 3"]
    assert by_name(moved)["v"]["values"] == ["1", "3"]


def test_an_array_target_gets_no_elements_but_says_why():
    model = step_model(recorded("x = np.array([1.0, 2.0])\ny = x * x\n"))
    assert model.elements == {}
    assert any(lines[-1] == "the elements' chain rule is written for a target that is a single number"
               for lines in model.paths.values())


def test_the_sentences_stay_within_their_budget():
    # ten chained (6, 6) arrays: 360 clickable elements, whose sentences pass ELEMENT_CHARS
    lines = ["a0 = np.full((6, 6), 0.5)"] + [f"a{k} = sin(a{k - 1}) * 1.5" for k in range(1, 11)]
    model = step_model(recorded("\n".join(lines) + "\nloss = sum(a10)\n"))
    assert 0 < len(model.elements) < 11
    assert len(json.dumps(model.elements)) <= ELEMENT_CHARS
    left = [ls[-1] for ls in model.paths.values() if "are not clickable" in ls[-1]]
    assert len(left) == 11 - len(model.elements)
    assert "a0" in {entry["name"] for entry in model.elements.values()}  # the cell's input first
