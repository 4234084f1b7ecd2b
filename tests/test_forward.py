"""Forward mode in the magic (adiff_magic/forward.py): --mode forward / both and --hessian over the
differential corpus (tests/test_differential.py's cells), every number against the independent oracle
(tests/oracle.py: sympy for scalar cells, central differences for arrays), never against the engine.

* each scalar input's pass: the target's tangent is the oracle's gradient, and forward and reverse agree;
* every named line's tangent is the oracle's derivative of that line with respect to the input;
* each line's tangent is the sum of its partials times its operands' tangents, as the text writes it;
* an array input's pass per element gives the oracle's gradient element by element;
* --hessian: the oracle's matrix of second derivatives, mixed partials included;
* the learner's own classes and a user Function without a jvp: central differences, said so."""
from __future__ import annotations

import math

import numpy as np
import pytest
from IPython.utils.capture import capture_output

import oracle
from book_classes import STEP_7
from test_differential import CELLS, NUMPY_GRAD_ATOL, NUMPY_GRAD_RTOL, SYMPY_ATOL, SYMPY_RTOL, _clear, \
    analysis, expected_grad

from adiff_magic.forward import MAX_WORK, central_jvp, forward_modes, hessian_of
from adiff_magic.parser import parse
from adiff_magic.result import View
from adiff_magic.runner import Options, run

SCALAR_CELLS = [cell for cell in CELLS if cell.mode == "sympy" and cell.orders]
ARRAY_CELLS = [cell for cell in CELLS if cell.mode == "numpy"]


@pytest.fixture
def fresh(shell):
    _clear(shell)
    yield shell
    _clear(shell)


def grad_result(shell, line: str, source: str):
    with capture_output():
        shell.run_cell_magic("grad", f"{line} -o forward_result_", source)
    return shell.user_ns.pop("forward_result_")


def scalar_inputs(an) -> list:
    return [b.label for b in an.rows if b.is_input and np.ndim(b.value) == 0]


# ================================================================ scalar cells against sympy


@pytest.mark.parametrize("cell", SCALAR_CELLS, ids=[cell.id for cell in SCALAR_CELLS])
def test_each_pass_gives_the_oracles_gradient_and_agrees_with_reverse(fresh, cell):
    result = grad_result(fresh, "--mode both", cell.source)
    an = analysis(cell)
    for name in scalar_inputs(an):
        expected = expected_grad(cell, an, name)
        tangent = result.tangents[name][result.target]
        assert np.allclose(tangent, 0.0 if expected is None else expected, rtol=SYMPY_RTOL, atol=SYMPY_ATOL), \
            (name, tangent, expected)
    assert result.modes.difference <= result.modes.tolerance


@pytest.mark.parametrize("cell", SCALAR_CELLS, ids=[cell.id for cell in SCALAR_CELLS])
def test_every_named_line_has_the_oracles_tangent(fresh, cell):
    """d(line)/d(input) for every binding: the oracle differentiates the cell with that line as the target."""
    if cell.hand:
        pytest.skip("a kink or a domain edge: sympy's reading differs there, the cell gives hand values")
    result = grad_result(fresh, "--mode forward", cell.source)
    for line in result.modes.lines:
        if line.is_input or not line.label.name.isidentifier() or np.ndim(line.variable.data):
            continue
        an = oracle.analyze(cell.source, cell.counts, line.label.name, "sympy", 1)
        for name in scalar_inputs(an):
            b = an.bindings[name]
            expected = b.grad if b.depends else 0.0
            got = result.tangents[name][line.label.name]
            assert np.allclose(got, expected, rtol=SYMPY_RTOL, atol=SYMPY_ATOL), (line.label.name, name, got, expected)


@pytest.mark.parametrize("cell", SCALAR_CELLS, ids=[cell.id for cell in SCALAR_CELLS])
def test_each_line_is_the_sum_of_its_partials_times_its_operands_tangents(cell):
    """What the pass text writes (ż = ∂z/∂w·ẇ + ∂z/∂x·ẋ = …) adds up to the line's tangent."""
    result, _ = run(parse(cell.source), {}, Options(mode="forward", view=View(mode="forward")))
    for seed, tangents in result.tangents.items():
        for line in result.modes.lines:
            if line.is_input or any(p is None for p in line.partials):
                continue
            total = sum(p * float(tangents[op]) for op, p in zip(line.operands, line.partials))
            assert math.isclose(total, float(tangents[line.label.name]), rel_tol=1e-9, abs_tol=1e-12), \
                (seed, line.label.name, total, tangents[line.label.name])


@pytest.mark.parametrize("cell", SCALAR_CELLS, ids=[cell.id for cell in SCALAR_CELLS])
def test_the_hessian_is_the_oracles(fresh, cell):
    if "derivs" in cell.hand:
        pytest.skip("a kink: the second derivative there is a convention the cell gives by hand")
    result = grad_result(fresh, "--hessian", cell.source)
    names, matrix = oracle.hessian(cell.source, cell.counts)
    if not names:
        assert result.second is None
        return
    assert result.second.names == tuple(names)
    assert np.allclose(result.second.matrix, matrix, rtol=SYMPY_RTOL, atol=1e-10), (result.second.matrix, matrix)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert result.hessian[(a, b)] == pytest.approx(matrix[i][j], rel=SYMPY_RTOL, abs=1e-10)


# ================================================================ array cells against central differences


@pytest.mark.parametrize("cell", ARRAY_CELLS, ids=[cell.id for cell in ARRAY_CELLS])
def test_an_array_inputs_passes_give_the_oracles_gradient_element_by_element(fresh, cell):
    result = grad_result(fresh, "--mode both", cell.source)
    an = analysis(cell)
    for b in an.rows:
        if not b.is_input:
            continue
        expected = expected_grad(cell, an, b.label)
        expected = np.zeros(np.shape(b.value)) if expected is None else np.asarray(expected, dtype=float)
        shape = np.shape(b.value)
        got = np.zeros(shape)
        for index in np.ndindex(shape):
            seed = f"{b.label}[{','.join(map(str, index))}]" if shape else b.label
            got[index] = np.sum(result.tangents[seed][result.target])
        assert np.allclose(got, expected, rtol=NUMPY_GRAD_RTOL, atol=NUMPY_GRAD_ATOL), (b.label, got, expected)
    assert result.modes.difference <= result.modes.tolerance


# ================================================================ by hand


SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
E25 = math.exp(0.25)


def test_the_seed_chain_by_hand():
    """ȧ = 2x = 1, ḃ = e^a·ȧ = e^0.25, ẏ = 2b·ḃ = 2e^0.5; the second derivative (4 + 16x²)·e^(2x²) = 8·e^0.5."""
    result, _ = run(parse(SEED), {}, Options(mode="forward", hessian=True, view=View(mode="forward")))
    tangents = result.tangents["x"]
    assert float(tangents["a"]) == 1.0
    assert float(tangents["b"]) == pytest.approx(E25, rel=1e-15)
    assert float(tangents["y"]) == pytest.approx(2 * math.exp(0.5), rel=1e-15)
    assert result.hessian[("x", "x")] == pytest.approx(8 * math.exp(0.5), rel=1e-14)
    x, d1, d2, new = result.second.newton()
    assert (x, d1, d2) == (0.5, pytest.approx(2 * math.exp(0.5)), pytest.approx(8 * math.exp(0.5)))
    assert new == pytest.approx(0.25, rel=1e-14)  # 0.5 − 2e^0.5 / 8e^0.5


def test_the_logistic_regression_by_hand():
    """loss = −log σ(wx + b) at t = 1: ∂loss/∂z = p − t = −½, ∂²loss/∂z² = p(1 − p) = ¼ (p = ½)."""
    cell = "w = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\nloss = -(t*log(p) + (1-t)*log(1-p))"
    result, _ = run(parse(cell), {}, Options(mode="both", hessian=True, view=View(mode="both")))
    assert {seed: float(t["loss"]) for seed, t in result.tangents.items()} == {"w": -1.0, "x": -0.25, "b": -0.5, "t": 0.0}
    z = result.modes.lines[4]
    assert (z.label.name, z.operands, z.partials) == ("z", ("w", "x", "b"), (2.0, 0.5, 1.0))  # ∂z/∂w = x, ∂z/∂x = w
    h = result.hessian
    assert (h[("w", "w")], h[("w", "x")], h[("x", "x")], h[("b", "b")]) == (1.0, -0.25, 0.0625, 0.25)  # x²/4, −½ + xw/4, w²/4
    assert (h[("w", "t")], h[("b", "t")], h[("t", "t")]) == (-2.0, -1.0, 0.0)  # ∂/∂t (p − t)·x = −x
    assert (result.modes.forward_passes, result.modes.reverse_passes) == (4, 1)


def test_one_input_and_several_outputs_count_the_other_way():
    result, _ = run(parse("x = 0.5\ny = x * np.array([1.0, 2.0, 3.0])"), {"np": np},
                    Options(mode="both", view=View(mode="both")))
    assert (result.modes.forward_passes, result.modes.reverse_passes) == (1, 3)
    assert np.array_equal(result.tangents["x"]["y"], [1.0, 2.0, 3.0])


def test_a_line_that_is_an_alias_keeps_the_first_name():
    result, _ = run(parse("x = 0.5\ny = x\nfor k in range(2):\n    y = y * x + 1"), {},
                    Options(mode="forward", view=View(mode="forward")))
    operands = {line.label.name: line.operands for line in result.modes.lines}
    assert operands["y#2"] == ("x",)  # y#1 is x itself: y#2 = x·x + 1, so ∂/∂x = 2x = 1
    assert float(result.tangents["x"]["y"]) == pytest.approx(3 * 0.25 + 1)  # y = x³ + x + 1


def test_a_function_without_a_forward_rule_gets_central_differences_and_a_note(ip):
    ip.run_cell("from engine import Function\nclass Cube(Function):\n    def forward(self, x):\n        return x ** 3\n"
                "    def backward(self, gy):\n        x, = self.inputs\n        return 3 * x ** 2 * gy\n")
    with capture_output():
        result = ip.run_cell_magic("grad", "--mode forward --hessian", "x = 2.0\ny = Cube()(x)")
    assert float(result.tangents["x"]["y"]) == pytest.approx(12.0, rel=1e-8)
    assert result.modes.numeric == ("Cube",) and result.modes.lines[1].numeric
    assert any("Cube has no forward-mode rule" in note for note in result.notes)
    assert result.hessian[("x", "x")] == pytest.approx(12.0, rel=1e-6)  # 6x, through Cube's forward by differences
    assert "≈ 12" in repr(result)


OWN_CELL = "A = Square()\nB = Exp()\nC = Square()\nx = Variable(np.array(0.5))\na = A(x)\nb = B(a)\ny = C(b)"


def test_the_learners_own_classes_forward_and_no_hessian(ip):
    ip.run_cell(STEP_7)
    with capture_output():
        result = ip.run_cell_magic("grad", "--mode forward --hessian", OWN_CELL)
    assert float(result.tangents["x"]["y"]) == pytest.approx(2 * math.exp(0.5), rel=1e-8)
    assert set(result.modes.numeric) == {"Square", "Exp"}
    assert any("Exp, Square have no forward-mode rule" in note for note in result.notes)
    assert result.second is None
    assert any("--hessian needs the gradient as a graph" in note and "plain array" in note for note in result.notes)


def test_the_learners_own_jvp_is_used_when_they_write_one(ip):
    ip.run_cell(STEP_7 + "\n\ndef square_jvp(self, t):\n    return 2 * self.input.data * t\n\nSquare.jvp = square_jvp\n")
    with capture_output():
        result = ip.run_cell_magic("grad", "--mode forward", OWN_CELL)
    assert result.modes.numeric == ("Exp",)  # Square's own rule ran; Exp has none
    assert float(result.tangents["x"]["a"]) == 1.0  # 2·0.5·1 exactly, by their rule (no differences)
    assert float(result.tangents["x"]["y"]) == pytest.approx(2 * math.exp(0.5), rel=1e-8)


def test_passes_are_bounded_by_the_work_and_say_so():
    n = 3_000
    cell = f"x = np.ones({n})\nW = np.ones(({n}, 40))\ny = sum(matmul(x, W))"
    result, _ = run(parse(cell), {"np": np}, Options(mode="forward", view=View(mode="forward")))
    total = n + n * 40
    per_pass = n + n * 40 + 40 + 40 + 1  # MatMul takes x and W and makes 40 numbers; Sum takes them and makes 1
    assert 1 <= len(result.modes.seeds) <= MAX_WORK // per_pass < total
    kept = sum(np.size(t) for tangents in result.tangents.values() for t in tangents.values())
    assert kept <= MAX_WORK  # what the result keeps grows with the work done, not with the passes it would need
    assert any(f"ran {len(result.modes.seeds):,} of the {total:,} passes it needs" in note for note in result.notes)
    assert any(f"ran {len(result.modes.seeds):,} of the {total:,}" in line for line in repr(result).splitlines())


def test_central_jvp_on_a_known_function():
    """(x², x·w) along (1, 2) at (3, 4): (2x·1, w·1 + x·2) = (6, 10)."""
    got = central_jvp(lambda x, w: (x * x, x * w), (np.array(3.0), np.array(4.0)), (np.array(1.0), np.array(2.0)))
    assert np.allclose(got, (6.0, 10.0), rtol=1e-8)


def test_hessian_refuses_what_it_cannot_do():
    result, _ = run(parse("x = np.array([1.0, 2.0])\ny = x * x"), {"np": np}, Options(hessian=True))
    assert result.second is None and result.hessian == {}
    assert any("--hessian needs a scalar target" in note for note in result.notes)
    result, _ = run(parse("x = np.array([1.0, 2.0])\nw = 3.0\ny = sum(x * w) * w"), {"np": np}, Options(hessian=True))
    assert result.second.names == ("w",) and result.hessian[("w", "w")] == 6.0  # y = 3w²: y″ = 6
    assert any("--hessian skips 'x'" in note for note in result.notes)


def test_forward_modes_and_hessian_of_are_pure_functions_of_the_run():
    """Called directly, they read no .grad and change none."""
    from engine import Variable, exp, square

    x = Variable(np.array(0.5))
    y = square(exp(square(x)))
    from adiff_magic.model import Label

    bindings = [(Label("x", 1), x, True, "0.5"), (Label("y", 2), y, False, "square(exp(square(x)))")]
    modes = forward_modes(y, "y", bindings, [("x", x)], lambda v: None, {})
    assert x.grad is None and y.grad is None
    assert float(modes.tangents["x"]["y"]) == pytest.approx(2 * math.exp(0.5))
    second, notes = hessian_of(y, "y", [("x", x)])
    assert x.grad is None and notes == [] and float(second.matrix[0, 0]) == pytest.approx(8 * math.exp(0.5))
