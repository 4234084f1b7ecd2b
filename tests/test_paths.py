"""adiff_magic.paths: the gradient as a sum over paths of products of local derivatives.
Expected numbers are hand derivations (the seed chain: 2b, eᵃ, 2x; the diamond: 1 × 2a × 2x twice)."""
import html
import math

import numpy as np
import pytest

from adiff_magic.fmt import fmt_number, fmt_short
from adiff_magic.paths import MAX_PATHS, chain_rules
from adiff_magic.render import chain_rule_lines, to_html, to_text


def test_the_seed_chain_is_one_path(grad, seed_cell):
    result = grad(seed_cell)
    rule = result.paths["x"]
    assert rule.count == 1 and len(rule.paths) == 1
    path = rule.paths[0]
    assert [(f.output, f.input) for f in path] == [("y", "b"), ("b", "a"), ("a", "x")]
    b, a, x = math.exp(0.25), 0.25, 0.5
    assert [f.value for f in path] == pytest.approx([2 * b, math.exp(a), 2 * x], rel=1e-15)
    assert rule.products() == pytest.approx([3.297442541400256], rel=1e-15)
    assert rule.total == 3.297442541400256
    assert chain_rule_lines(result) == ["dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1 = 3.29744"]
    assert chain_rule_lines(result, width=40) == ["dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x",
                                                  "      = 2.56805 × 1.28403 × 1 = 3.29744"]


def test_the_diamond_is_two_paths_that_add_up(grad):
    result = grad("x = 2.0\na = x**2\ny = a**2 + a**2\n")
    rule = result.paths["x"]
    assert rule.count == 2 and rule.products() == [32.0, 32.0] and rule.total == 64.0  # 1 · 2a · 2x with a = 4
    assert chain_rule_lines(result)[1].endswith("= 1 × 8 × 4 + 1 × 8 × 4 = 32 + 32 = 64")
    assert chain_rule_lines(result)[0] == ("dy/dx = ∂y/∂(a**2 [1]) · ∂(a**2 [1])/∂a · ∂a/∂x"
                                           " + ∂y/∂(a**2 [2]) · ∂(a**2 [2])/∂a · ∂a/∂x")


def test_many_paths_are_counted_not_written(grad):
    result = grad("x = 0.5\ny = x\nfor k in range(10):\n    y = sin(y) + x\n")
    rule = result.paths["x"]
    assert rule.count == 11 > MAX_PATHS and rule.paths == ()  # x feeds each of the 10 additions, and y#1 = x
    assert chain_rule_lines(result) == [f"dy/dx = 11 paths: too many to write out; the trace shows them adding up "
                                        f"(= {fmt_short(result.grads['x'])})"]


def test_the_sentence_is_in_the_text_and_the_html(grad, seed_cell):
    result = grad(seed_cell)
    for line in chain_rule_lines(result):
        assert line in to_text(result)
        assert html.escape(line) in to_html(result)


def test_array_graphs_get_no_sentence(grad):
    assert grad("w = np.array([0.5, -0.3])\ny = sum(w * w)\n").paths == {}


def test_an_input_with_no_path_gets_no_sentence(grad):
    result = grad("x = 0.5\nw = 2.0\ny = square(x)\n")
    assert set(result.paths) == {"x"}


def test_a_large_graph_says_why_there_is_no_sentence():
    from engine import Variable, sin
    x = Variable(0.5)
    y = x
    for _ in range(10_001):
        y = sin(y)
    rules, notes = chain_rules(y, [("x", type("B", (), {"variable": x})())], lambda v: None)
    assert rules == {} and notes == ["the chain rule is not written out: the graph has over 10,000 functions"]


@pytest.mark.parametrize("value, full, short", [(-0.0, "0", "0"), (0.0, "0", "0"), (-1.5, "-1.5", "-1.5"),
                                                (0.6784304773607402, "0.6784304773607402", "0.67843")])
def test_never_minus_zero(value, full, short):
    assert fmt_number(value) == full and fmt_short(value) == short
    assert fmt_number(np.float64(value)) == full


def test_a_long_path_shows_its_ends_and_how_many_factors_are_left_out(grad):
    cell = "x = 0.5\n" + "".join(f"v{i} = sin({'x' if i == 1 else f'v{i - 1}'})\n" for i in range(1, 11))
    result = grad(cell)
    symbols, numbers = chain_rule_lines(result)
    assert symbols == "dv10/dx = ∂v10/∂v9 · ∂v9/∂v8 · ∂v8/∂v7 · (… 4 more …) · ∂v3/∂v2 · ∂v2/∂v1 · ∂v1/∂x"
    assert numbers.count("×") == 6 and "(… 4 more …)" in numbers
    assert len(result.paths["x"].paths[0]) == 10  # the result keeps every factor


def test_a_node_made_inside_a_lambda_is_named_by_its_function(grad):
    result = grad("x = 0.5\nf = lambda t: sin(t) * t\ny = f(x)\n")
    # y = sin(x)·x: two paths, through x directly and through sin(x), made where the cell is not instrumented
    assert chain_rule_lines(result)[0] == "dy/dx = ∂y/∂x + ∂y/∂(sin(…)) · ∂(sin(…))/∂x"
    assert result.paths["x"].products() == pytest.approx([math.sin(0.5), 0.5 * math.cos(0.5)], rel=1e-15)
