"""Tests for adiff_magic.extras (--order, --check, --graph, --plot), through the runner."""
import math
import re

import pytest

from adiff_magic.record import GRAPH_LIMIT
from adiff_magic.errors import CellError
from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run
from engine import Function


def run_cell(source: str, namespace=None, **options):
    return run(parse(source), namespace if namespace is not None else {}, Options(**options))


def test_order_two_gives_the_second_derivative_and_keeps_first_order_grads():
    result, scope = run_cell("x = 2.0\ny = x**4 - 2*x**2\n", order=3)
    assert result.derivatives == {"x": [24.0, 44.0, 48.0]}  # 4x³−4x, 12x²−4, 24x
    assert float(scope["x"].grad) == 24.0


def test_check_agrees_for_engine_functions(seed_cell):
    result, _ = run_cell(seed_cell, check=True)
    assert result.check["x"] < 1e-8
    assert math.isclose(float(result.numerical["x"]), 3.2974425414, rel_tol=1e-8)


def test_check_flags_a_wrong_backward(wrong_square):
    result, _ = run_cell("x = 1.5\ny = WrongSquare()(x)\n", {"WrongSquare": wrong_square}, check=True)
    assert math.isclose(result.check["x"], 1.5 / 4.5, rel_tol=1e-6)  # |4.5 − 3| / 4.5
    assert result.check["x"] > result.check_tolerance


def test_graph_lists_every_function_and_variable(seed_cell):
    result, _ = run_cell(seed_cell, view=View(graph=True))
    nodes, edges = result.graph
    assert sorted(n[2] for n in nodes if n[1] == "function") == ["Exp", "Square", "Square"]
    assert len(edges) == 6


def test_large_graph_is_cut_and_says_so():
    n = GRAPH_LIMIT + 100
    result, _ = run_cell(f"x = 0.5\ny = x\nfor k in range({n}):\n    y = sin(y)\n", view=View(graph=True))
    assert sum(n[1] == "function" for n in result.graph[0]) == GRAPH_LIMIT
    assert any(re.search(rf"(?<!\d){GRAPH_LIMIT:,} functions nearest the target out of {n:,}(?!\d)", note)
               for note in result.notes)


def test_plot_draws_a_png_for_one_scalar_input(seed_cell):
    pytest.importorskip("matplotlib")
    result, _ = run_cell(seed_cell, plot=True)
    assert result.plot_png.startswith(b"\x89PNG")


def test_plot_refuses_two_inputs():
    pytest.importorskip("matplotlib")
    with pytest.raises(CellError, match="--plot needs one scalar input"):
        run_cell("x = 1.0\nw = 2.0\ny = x * w\n", plot=True)


def test_plot_and_check_vary_an_input_made_with_variable():
    # the recorded graph is re-evaluated, so an input made with Variable(...) can be varied too
    pytest.importorskip("matplotlib")
    result, _ = run_cell("x = Variable(0.5)\ny = square(x)\n", plot=True, check=True)
    assert result.plot_png.startswith(b"\x89PNG")
    assert math.isclose(float(result.numerical["x"]), 1.0, rel_tol=1e-8) and result.check_passed == {"x": True}


def test_a_high_order_stops_before_the_graph_explodes_and_says_so():
    result, _ = run_cell("x = 0.5\ny = exp(sin(x))\n", order=30)
    found = result.derivatives["x"]
    reached = sum(d is not None for d in found)
    assert 5 < reached < 30 and len(found) == 30 and found[reached:] == [None] * (30 - reached)
    assert any(re.search(rf"stops at order {reached}(?!\d)", note) for note in result.notes)
    # the first derivatives are still right: d/dx e^sin x = cos x e^sin x, by hand
    assert math.isclose(result.derivatives["x"][0], math.cos(0.5) * math.exp(math.sin(0.5)), rel_tol=1e-12)


def test_graph_nodes_are_named_fields(seed_cell):
    result, _ = run_cell(seed_cell, view=View(graph=True))
    by_text = {node.text: node for node in result.graph.nodes if node.kind == "variable"}
    assert set(by_text) == {"x", "a", "b", "y"}
    assert float(by_text["b"].grad) == 2.568050833375483 and float(by_text["a"].value) == 0.25  # the seed's numbers
    assert all(node.kind in ("variable", "function") for node in result.graph.nodes)
    keys = {node.key for node in result.graph.nodes}
    assert all(edge.source in keys and edge.target in keys for edge in result.graph.edges)


def test_graph_edges_carry_the_local_derivatives(seed_cell):
    result, _ = run_cell(seed_cell, view=View(graph=True))
    text = {node.key: node.text for node in result.graph.nodes}
    locals_ = {(text[e.source], text[e.target]): e.local for e in result.graph.edges if e.local is not None}
    # by hand at x = 0.5: ∂a/∂x = 2x = 1, ∂b/∂a = e^0.25, ∂y/∂b = 2b = 2·e^0.25
    assert sorted(locals_.values()) == pytest.approx(sorted([1.0, math.exp(0.25), 2 * math.exp(0.25)]), rel=1e-15)
    assert locals_[("a", "Exp")] == pytest.approx(math.exp(0.25), rel=1e-15)
    assert all(e.local is None for e in result.graph.edges if text[e.source] in ("Square", "Exp"))


def test_graph_names_a_node_made_inside_a_def_by_its_function():
    result, _ = run_cell("def f(u):\n    return sin(u * u)\nx = 3.0\ny = f(x)\n", view=View(graph=True))
    names = {node.text for node in result.graph.nodes if node.kind == "variable"}
    assert "mul(…) in f(x)" in names and "constant" not in names


def test_plot_reads_in_both_themes(seed_cell):
    # a transparent PNG (no white box in a dark theme): its corner pixel has alpha 0
    pytest.importorskip("matplotlib")
    import io as _io

    from matplotlib.image import imread
    result, _ = run_cell(seed_cell, plot=True)
    pixels = imread(_io.BytesIO(result.plot_png), format="png")
    assert pixels.shape[2] == 4 and pixels[0, 0, 3] == 0.0


class PickySquare(Function):
    """x², its backward written with Variables but refusing to run anywhere but x = 0.5."""

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        x, = self.inputs
        if float(x.data) != 0.5:
            raise ValueError("only at 0.5")
        return 2 * x * gy


def test_order_through_a_backward_that_cannot_run_nearby_is_na_and_says_so():
    # its result cannot be checked to follow its input, so it is not differentiated again
    result, _ = run_cell("x = 0.5\ny = PickySquare()(x)\n", {"PickySquare": PickySquare}, order=3)
    assert result.derivatives == {"x": [1.0, None, None]}  # 2x; 2 would be right but is not vouched for
    assert any("stops at order 1: PickySquare.backward fails with its inputs moved" in note and "only at 0.5" in note
               for note in result.notes)
