"""adiff_magic.record: the one backward pass as a Recording. Expected numbers are hand derivations:
the seed chain (y = b², b = eᵃ, a = x², x = 0.5: ∂y/∂b = 2b, ∂b/∂a = eᵃ, ∂a/∂x = 2x) and the diamond."""
import math

import numpy as np
import pytest

from adiff_magic.parser import parse
from adiff_magic.record import record
from adiff_magic.runner import Options, run_recorded
from adiff_magic.stepper import step_model
from engine import Function, Variable, exp, square

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
A, B = 0.25, math.exp(0.25)
DB, DA = 2 * B, 2 * B * B  # dy/db = 2b, dy/da = 2b·eᵃ = dy/dx (∂a/∂x = 2x = 1)


def recorded(cell: str, namespace: dict = None):
    return run_recorded(parse(cell), dict(namespace or {"np": np}), Options())[2]


def names(recording) -> dict:
    """Node key -> its text."""
    return {node.key: node.text for node in recording.graph.nodes}


def test_each_step_sits_on_the_graph_and_moves_its_gradients():
    recording = recorded(SEED).recording
    name = names(recording)
    assert name[recording.target_key] == "y" and recording.seed.tolist() == 1.0
    expected = [("Square", "y", "b", DB), ("Exp", "b", "a", DA), ("Square", "a", "x", DA)]
    for step, place, (function, output, into, grad) in zip(recording.steps, recording.places, expected):
        assert (step.function, name[place.function], name[place.output]) == (function, function, output)
        (key, before, after), = place.moves
        assert name[key] == into and before is None and float(after) == pytest.approx(grad, rel=1e-15)


def test_a_second_path_is_moved_from_its_gradient_before():
    recording = recorded("x = 2.0\na = x**2\ny = a**2 + a**2\n").recording
    name = names(recording)
    moved = [(name[key], None if before is None else float(before), float(after))
             for place in recording.places for key, before, after in place.moves]
    # d(a²)/da = 2a = 8 on each path; d a/dx = 2x = 4: 16 · 4 = 64
    assert [m for m in moved if m[0] == "a"] == [("a", None, 8.0), ("a", 8.0, 16.0)]
    assert moved[-1] == ("x", None, 64.0)


def test_the_graphs_local_derivatives_are_the_steps():
    recording = recorded(SEED).recording
    name = names(recording)
    locals_ = {(name[e.source], name[e.target]): e.local for e in recording.graph.edges if e.local is not None}
    assert locals_ == pytest.approx({("b", "Square"): DB, ("a", "Exp"): B, ("x", "Square"): 1.0}, rel=1e-15)
    for step in recording.steps:  # the same numbers as the trace shows, from the same function
        assert step.flows[0].local.value == locals_[(step.flows[0].input, step.function)]


def test_a_constant_gets_its_local_derivative_too():
    recording = recorded("x = 0.5\ny = 3 * x\n").recording
    edges = {names(recording)[e.source]: e.local for e in recording.graph.edges if e.local is not None}
    assert edges == {"constant": 0.5, "x": 3.0}  # ∂(3x)/∂3 = x, ∂(3x)/∂x = 3


def test_a_zero_incoming_gradient_keeps_the_local_derivative():
    recording = recorded("x = 0.5\ny = 0 * sin(x)\n").recording
    sin_edge = next(e for e in recording.graph.edges if names(recording)[e.target] == "Sin")
    assert sin_edge.local == pytest.approx(math.cos(0.5), rel=1e-15)
    assert recording.rules["x"].total == 0.0 and recording.rules["x"].products() == [0.0]


class NoRule(Function):
    """x³ with a correct backward and no local-derivative template."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        return 3 * self.inputs[0].data ** 2 * gy


class ZeroOnly(NoRule):
    """The same, with a backward that fails for any incoming gradient but the 0 the cell gives it."""

    def backward(self, gy):
        if gy != 0:
            raise ValueError("only 0, please")
        return super().backward(gy)


def test_a_zero_incoming_gradient_without_a_template_asks_the_backward_for_its_local_derivative():
    # passed ÷ incoming says nothing when 0 came in; the function's own backward given 1 does: 3x² = 0.75
    rec = recorded("x = 0.5\ny = 0 * NoRule()(x)\n", {"np": np, "NoRule": NoRule})
    (path,) = rec.recording.rules["x"].paths
    assert [f.value for f in path] == [0.0, 0.75] and not rec.recording.notes
    # relu at its kink behind a factor 0 (issue 15's "derivatives that become zero"): relu'(0) = 0 by the engine's rule
    relu = recorded("x = 0.0\ny = relu(x) * x\n").recording
    assert sorted(p[-1].value for p in relu.rules["x"].paths) == [0.0, 0.0] and relu.rules["x"].total == 0.0


def test_an_unknown_local_derivative_gets_a_note_not_a_number():
    rec = recorded("x = 0.5\ny = 0 * ZeroOnly()(x)\n", {"np": np, "ZeroOnly": ZeroOnly})
    assert "x" not in rec.recording.rules  # and so no 'written for 0 of 1 inputs' line either
    assert any("the local derivative of ZeroOnly on its path is not known" in n for n in rec.recording.notes)


def test_node_rules_cover_the_variables_drawn():
    recording = recorded(SEED).recording
    by_text = {names(recording)[key]: rule.total for key, rule in recording.node_rules.items()}
    assert by_text == pytest.approx({"x": DA, "a": DA, "b": DB, "y": 1.0}, rel=1e-15)


def test_the_step_view_reads_the_recording_and_runs_no_backward_of_its_own(monkeypatch):
    rec = recorded(SEED)

    def refuse(*args, **kwargs):
        raise AssertionError("a second backward pass")

    monkeypatch.setattr(Variable, "backward", refuse)
    model = step_model(rec)  # the recorded values: a view of the Recording only
    assert len(model.steps) == 3
    with pytest.raises(AssertionError, match="a second backward"):
        step_model(rec, {"x": 1.0})  # other values: a new graph, recorded by the same code


def test_record_on_a_graph_built_by_hand():
    x = Variable(np.array(0.5))
    y = square(exp(square(x)))
    recording = record(y, lambda v: None, lambda lineno: "", [("x", x)])
    assert recording.rules["x"].total == pytest.approx(DA, rel=1e-15) and x.grad == pytest.approx(DA, rel=1e-15)
    assert [step.function for step in recording.steps] == ["Square", "Exp", "Square"]
