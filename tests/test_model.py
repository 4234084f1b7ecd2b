"""adiff_magic.model: the shared types are plain frozen data that a test builds by hand."""
import dataclasses
import math

import numpy as np
import pytest

from adiff_magic.model import ChainRule, Factor, Graph, GraphEdge, GraphNode, Label, Place, Recording


def seed_rule() -> ChainRule:
    b = math.exp(0.25)  # the seed chain by hand: 2b, eᵃ, 2x at x = 0.5
    path = (Factor("y", "b", 2 * b), Factor("b", "a", b), Factor("a", "x", 1.0))
    return ChainRule("x", 1, (path,), 2 * b * b)


def test_a_chain_rule_multiplies_each_path():
    assert seed_rule().products() == pytest.approx([2 * math.exp(0.5)], rel=1e-15)


def test_zero_times_infinity_is_nan_as_in_the_backward_pass():
    rule = ChainRule("x", 1, ((Factor("y", "a", 0.0), Factor("a", "x", math.inf)),), math.nan)
    assert math.isnan(rule.products()[0])


def test_a_recording_is_frozen():
    graph = Graph((GraphNode("n1", "variable", "y", np.array(1.0), np.array(1.0)),), ())
    recording = Recording("y", "n1", np.array(1.0), (), (), graph, 0, {"x": seed_rule()}, {}, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        recording.target = "z"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Place("n2", "n1", ("n3",), ()).function = "n4"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Label("x", 1).name = "y"
    assert GraphEdge("n1", "n2").local is None
