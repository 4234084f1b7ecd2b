"""adiff_magic.paths: the gradient as a sum over paths of products of local derivatives.
Expected numbers are hand derivations (the seed chain: 2b, eᵃ, 2x; the diamond: 1 × 2a × 2x twice)."""
import html
import math

import numpy as np
import pytest

from adiff_magic.fmt import fmt_number, fmt_short
from adiff_magic import paths
from adiff_magic.paths import MAX_PATHS, Paths
from adiff_magic.render import chain_rule_lines, path_count, to_html, to_text


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
    assert chain_rule_lines(result) == [f"dy/dx = {fmt_short(result.grads['x'])}, the sum over 11 paths: too many to "
                                        "write out; the trace shows them adding up"]


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


def test_a_large_graph_says_why_there_is_no_sentence(monkeypatch):
    from engine import Variable, sin
    monkeypatch.setattr(paths, "MAX_FUNCTIONS", 100)
    x = Variable(0.5)
    y = x
    for _ in range(101):
        y = sin(y)
    assert Paths.of(y, lambda v: None, lambda f, i: 1.0) == \
        "the chain rule is not written out: the graph has over 100 functions"


def test_a_chain_of_thousands_of_functions_gets_its_sentence(grad):
    # issue 15: y = sin(y) 2,000 times showed the table and nothing else (a recursive walk hit the limit)
    result = grad("x = 0.5\ny = x\nfor k in range(2000):\n    y = sin(y)\n")
    rule = result.paths["x"]
    assert rule.count == 1 and len(rule.paths[0]) == 2000
    v, expected = 0.5, 1.0
    for _ in range(2000):  # d/dx of sin applied 2,000 times: the product of cos at each point
        expected *= math.cos(v)
        v = math.sin(v)
    assert rule.total == pytest.approx(expected, rel=1e-12) and rule.products() == pytest.approx([expected], rel=1e-9)
    sentence, = chain_rule_lines(result, width=1000)
    assert sentence.startswith("dy/dx = ∂y/∂y#2000 · ") and sentence.count("(… 1,994 more …)") == 2


def loop_cell(n: int) -> str:
    """A loop with a per-iteration input: w_k = w_(k-1) - lr_k · w_(k-1), 2 paths per pass."""
    return f"w = 1.0\nfor i in range({n}):\n    lr = 0.01\n    w = w - lr * w\nloss = w\n"


def test_a_loop_with_a_per_iteration_input_writes_a_handful_of_sentences(grad):
    n = 300
    result = grad(loop_cell(n))
    assert len(result.paths) == n + 1  # w#1 and every lr reach the target
    # by hand: from w#1, each pass offers two ways (w itself and lr·w): 2^n paths; d loss/d w#1 = 0.99^n
    assert result.paths["w#1"].count == 2 ** n and result.paths["w#1"].total == pytest.approx(0.99 ** n, rel=1e-12)
    # d loss/d lr_k = -w_(k-1) · 0.99^(n-k) = -0.99^(n-1) for every k
    assert result.paths["lr#7"].count == 2 ** (n - 7)  # into w#8 through lr·w, then two ways per later pass
    assert result.paths["lr#7"].total == pytest.approx(-0.99 ** (n - 1), rel=1e-12)
    written = [name for name, rule in result.paths.items() if rule.written]
    assert len(written) == paths.MAX_SENTENCES and written[:2] == ["lr", "w#1"]
    lines = chain_rule_lines(result, width=100)
    assert sum(line.startswith("dloss/d") for line in lines) == paths.MAX_SENTENCES
    assert any(f"written for {paths.MAX_SENTENCES} of the {n + 1:,} inputs with a path" in line for line in lines)
    assert len(to_text(result)) < 20_000 and len(to_html(result)) < 30_000


def test_a_huge_path_count_comes_after_the_gradient(grad):
    result = grad("x = 1.0\ny = x\nfor k in range(1000):\n    y = y + y + x\n")
    rule = result.paths["x"]
    # by hand: paths c_k = 2·c_(k-1) + 1 from c_0 = 1 (y#1 is x), so 2^1001 - 1; the gradient obeys the same
    assert rule.count == 2 ** 1001 - 1 and rule.total == pytest.approx(2.0 ** 1001, rel=1e-12)
    line, = chain_rule_lines(result, width=1000)
    # the gradient is read right after '=': the count follows it, in words a reader takes in
    assert line.startswith(f"dy/dx = {fmt_short(rule.total)}, the sum over about 2.1 × 10^301 paths")


@pytest.mark.parametrize("count, shown", [(11, "11"), (1_234_567, "1,234,567"), (10**7, "about 1.0 × 10^7"),
                                          (2**1000, "about 1.1 × 10^301"), (3 * 10**5000, "about 3.0 × 10^5000")],
                         ids=["11", "millions", "ten-millions", "2^1000", "3e5000"])
def test_path_counts_read_as_numbers(count, shown):
    assert path_count(count) == shown


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
    assert chain_rule_lines(result)[0] == "dy/dx = ∂y/∂x + ∂y/∂(sin(…) in f(x)) · ∂(sin(…) in f(x))/∂x"
    assert result.paths["x"].products() == pytest.approx([math.sin(0.5), 0.5 * math.cos(0.5)], rel=1e-15)


def test_a_single_negative_factor_is_written_once(grad):
    # the total of one factor is that factor: 'dy/dx = ∂y/∂x = -3', not '(-3) = -3' nor '(-3)'
    assert chain_rule_lines(grad("x = 0.5\ny = -3 * x\n")) == ["dy/dx = ∂y/∂x = -3"]
