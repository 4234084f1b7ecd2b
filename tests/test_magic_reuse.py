"""Using %%grad the way a notebook does: cells run again, earlier cells edited, the extension
reloaded, several results held at once, and a thousand runs of one cell.

Expected numbers are derived by hand (the seed chain: x = 0.5, a = x², b = e^a, y = b²) or taken
from an earlier run of the same cell, compared bit for bit.
"""
from __future__ import annotations

import copy
import gc
import math
import textwrap

import numpy as np
import pytest
from IPython.utils.capture import capture_output

from adiff_magic.render import to_html, to_text
from adiff_magic.result import GradResult

SEED_DX = 2 * math.exp(0.5)  # the seed_cell fixture's dy/dx = 4x·e^(2x²) at x = 0.5

# broadcasting, shared intermediates (accumulation) and every kind of step
BRANCHING_CELL = """\
x = 0.7
w = np.array([0.1, 0.2, 0.3])
m = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
a = sin(x) * w
b = exp(a) + a
c = tanh(m * b) / (1 + square(b))
y = sum(b * b) + mean(c) + x ** 3
"""


# ================================================================ fixtures and helpers


@pytest.fixture
def ip(shell):
    shell.reset()
    shell.run_cell("import numpy as np\nfrom engine import *", store_history=False)
    yield shell
    shell.reset()


def grad_cell(ip, cell, line=""):
    """Run a %%grad cell through IPython as a notebook does (ip.run_cell, in the history); return
    its GradResult. Not conftest's ``grad`` fixture, which calls the magic directly."""
    with capture_output() as captured:
        outcome = ip.run_cell(f"%%grad {line}\n{textwrap.dedent(cell)}", store_history=True)
    assert outcome.success, f"%%grad {line} failed:\n{captured.stdout}\n{captured.stderr}"
    assert isinstance(outcome.result, GradResult)
    return outcome.result


def cell(ip, source):
    with capture_output() as captured:
        outcome = ip.run_cell(textwrap.dedent(source), store_history=True)
    assert outcome.success, f"cell failed:\n{source}\n{captured.stdout}\n{captured.stderr}"
    return outcome


def numbers(result):
    """Every number a GradResult holds, as (what, array) pairs, copied."""
    found = [("target", np.array(0.0 if result.target else 1.0))]
    for row in result.rows:
        found.append((f"{row.name}.value", np.array(row.value)))
        found.append((f"{row.name}.grad", np.array(np.nan) if row.grad is None else np.array(row.grad)))
    for step in result.steps:
        for k, gy in enumerate(step.gy):
            found.append((f"step {step.index} gy{k}", np.array(gy)))
        for flow in step.flows:
            found.append((f"step {step.index} -> {flow.input} grad", np.array(flow.grad)))
            found.append((f"step {step.index} -> {flow.input} total", np.array(flow.total)))
    return found


def assert_identical(first, second):
    """Two results with the same rows, the same steps and the same numbers, bit for bit."""
    assert [row.name for row in first.rows] == [row.name for row in second.rows]
    assert [(s.function, s.output, s.lineno, s.rule) for s in first.steps] == \
           [(s.function, s.output, s.lineno, s.rule) for s in second.steps]
    a, b = numbers(first), numbers(second)
    assert [what for what, _ in a] == [what for what, _ in b]
    for (what, x), (_, y) in zip(a, b):
        assert np.array_equal(x, y, equal_nan=True), f"{what}: {x!r} then {y!r}"
    assert to_text(first) == to_text(second)
    assert to_html(first) == to_html(second)


def namespace_grads(ip, names):
    return {name: np.array(ip.user_ns[name].grad) for name in names}


# ================================================================ running a cell again


@pytest.mark.parametrize("which", ["seed", "branching"])
def test_the_same_cell_twice_gives_identical_numbers(ip, seed_cell, which):
    source = {"seed": seed_cell, "branching": BRANCHING_CELL}[which]
    first = grad_cell(ip, source)
    names = [row.name for row in first.rows]
    grads_after_first = namespace_grads(ip, names)
    for _ in range(3):
        again = grad_cell(ip, source)
        assert_identical(first, again)
        for name, g in namespace_grads(ip, names).items():
            assert np.array_equal(g, grads_after_first[name]), f"{name}.grad drifted: {g} vs {grads_after_first[name]}"
            assert np.array_equal(g, again.grads[name])
    if which == "seed":
        assert float(first.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)


def test_a_cell_reading_the_previous_cells_variables_twice(ip, seed_cell):
    seed = grad_cell(ip, seed_cell)
    x, b = ip.user_ns["x"], ip.user_ns["b"]
    x_grad, b_grad = np.array(x.grad), np.array(b.grad)
    reader = "z = square(b) * x\n"  # b and x are Variables the seed cell left in the notebook
    first = grad_cell(ip, reader)
    bv, xv = math.exp(0.25), 0.5
    assert float(first.grads["b"]) == pytest.approx(2 * bv * xv, rel=1e-15)
    assert float(first.grads["x"]) == pytest.approx(bv * bv, rel=1e-15)
    second = grad_cell(ip, reader)
    assert_identical(first, second)
    # the seed cell's Variables are read, not differentiated again: their gradients are the seed's
    assert ip.user_ns["x"] is x and ip.user_ns["b"] is b
    assert np.array_equal(x.grad, x_grad) and np.array_equal(b.grad, b_grad)
    assert float(x.grad) == float(seed.grads["x"])
    # and the seed cell itself, run again afterwards, still gives its own numbers
    assert_identical(seed, grad_cell(ip, seed_cell))
    assert_identical(first, grad_cell(ip, reader))


def test_notebook_function_objects_reused_across_runs(ip):
    """The seed notebook's style: Function objects made once in a cell, called in %%grad cells."""
    cell(ip, "A = Square()\nB = Exp()\nC = Square()\n")
    source = "x = 0.5\na = A(x)\nb = B(a)\ny = C(b)\n"
    first = grad_cell(ip, source)
    assert float(first.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    assert_identical(first, grad_cell(ip, source))
    assert_identical(first, grad_cell(ip, source.replace("x = 0.5", "x = 0.5  # again")))


def test_a_notebook_variable_read_by_a_cell_run_twice(ip):
    cell(ip, "v = Variable(np.array([0.5, -1.0, 2.0]))\n")
    v = ip.user_ns["v"]
    source = "s = sum(sin(v) * v)\n"
    first = grad_cell(ip, source)
    data = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(first.grads["v"], np.cos(data) * data + np.sin(data), rtol=1e-15)
    assert_identical(first, grad_cell(ip, source))
    assert v.grad is None and ip.user_ns["v"] is v  # read from the notebook, never touched


def test_a_notebook_parameter_used_through_a_notebook_function_does_not_accumulate(ip):
    """A model defined in an earlier cell closes over a parameter W; the %%grad cell calls it.
    Running the cell again must show the same trace, and W must not collect a gradient per run."""
    cell(ip, "W = Variable(np.array(3.0), name='W')\ndef model(x):\n    return x * W\n")
    W = ip.user_ns["W"]
    source = "x = 0.5\ny = model(x)\n"
    first = grad_cell(ip, source)
    assert float(first.grads["x"]) == 3.0
    w_grad = None if W.grad is None else float(W.grad)
    for run in (2, 3):
        again = grad_cell(ip, source)
        assert (None if W.grad is None else float(W.grad)) == w_grad, \
            f"run {run}: W.grad is {W.grad}, it was {w_grad} after the first run"
        assert_identical(first, again)


# ================================================================ editing an earlier cell


CUBE_SETUP = """\
class Cube(Function):
    def forward(self, x):
        return x ** {power}
    def backward(self, gy):
        x = self.inputs[0].data
        return gy * {power} * x ** {power_minus_1}

def cube(x):
    return Cube()(x)
"""


def test_redefining_a_user_function_then_rerunning(ip):
    source = "x = 0.5\ny = cube(x) * 2.0\n"
    cell(ip, CUBE_SETUP.format(power=3, power_minus_1=2))
    first = grad_cell(ip, source)
    assert float(first.values["y"]) == 0.25
    assert float(first.grads["x"]) == 1.5  # 2·3x²
    # the learner edits the setup cell (now a fourth power, under the same names) and re-runs both
    cell(ip, CUBE_SETUP.format(power=4, power_minus_1=3))
    second = grad_cell(ip, source)
    assert float(second.values["y"]) == 0.125
    assert float(second.grads["x"]) == 1.0  # 2·4x³
    assert [s.function for s in second.steps] == ["Mul", "Cube"]
    # the first result is untouched by the edit
    assert float(first.grads["x"]) == 1.5
    # and back again
    cell(ip, CUBE_SETUP.format(power=3, power_minus_1=2))
    assert_identical(first, grad_cell(ip, source))


def test_editing_a_notebook_constant_then_rerunning(ip):
    source = "x = 0.5\ny = k * square(x) + sum(c * x)\n"
    cell(ip, "k = 3.0\nc = np.array([1.0, 2.0])\n")
    first = grad_cell(ip, source)
    assert float(first.grads["x"]) == 2 * 3.0 * 0.5 + 3.0
    assert float(first.grads["k"]) == 0.25
    np.testing.assert_array_equal(first.grads["c"], [0.5, 0.5])
    cell(ip, "k = 5.0\nc = np.array([1.0, 2.0, 4.0])\n")
    second = grad_cell(ip, source)
    assert float(second.grads["x"]) == 2 * 5.0 * 0.5 + 7.0
    assert float(second.values["y"]) == 5.0 * 0.25 + 3.5
    np.testing.assert_array_equal(second.grads["c"], [0.5, 0.5, 0.5])
    # the constants were read, not rebound
    assert ip.user_ns["k"] == 5.0 and type(ip.user_ns["c"]) is np.ndarray


# ================================================================ loading the extension again


def test_reload_ext_then_grad_still_works(ip, seed_cell):
    first = grad_cell(ip, seed_cell)
    for _ in range(3):
        with capture_output() as captured:
            outcome = ip.run_cell("%reload_ext adiff_magic", store_history=True)
        assert outcome.success, captured.stdout + captured.stderr
        assert "Error" not in captured.stdout + captured.stderr
        assert "grad" in ip.magics_manager.magics["cell"]
        again = grad_cell(ip, seed_cell)
        assert_identical(first, again)
        assert float(again.grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)
    # the other options still parse after a reload
    quiet = ip.run_cell("%%grad --quiet -o r\n" + seed_cell, store_history=True)
    assert quiet.success and quiet.result is None
    assert_identical(first, ip.user_ns["r"])


def test_load_ext_twice(ip, seed_cell):
    for _ in range(2):
        with capture_output() as captured:
            outcome = ip.run_cell("%load_ext adiff_magic", store_history=True)
        assert outcome.success, captured.stdout + captured.stderr
    assert float(grad_cell(ip, seed_cell).grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)


# ================================================================ two results at once


def test_two_results_held_at_once_stay_independent(ip, seed_cell):
    a = grad_cell(ip, seed_cell, "-o ra")
    assert ip.user_ns["ra"] is a
    a_numbers = numbers(a)
    a_text, a_html = to_text(a), to_html(a)
    a_copy = copy.deepcopy(a)
    b = grad_cell(ip, seed_cell.replace("x = 0.5", "x = 0.8"), "-o rb")
    assert ip.user_ns["ra"] is a and ip.user_ns["rb"] is b and a is not b
    # the second run changed nothing in the first result
    for (what, before), (_, after) in zip(a_numbers, numbers(a)):
        assert np.array_equal(before, after), f"ra's {what} changed from {before} to {after}"
    assert to_text(a) == a_text and to_html(a) == a_html
    assert_identical(a, a_copy)
    # the two differ where the input does, and agree on the structure
    assert float(a.values["x"]) == 0.5 and float(b.values["x"]) == 0.8
    assert float(b.grads["x"]) == pytest.approx(4 * 0.8 * math.exp(2 * 0.8 ** 2), rel=1e-14)
    assert [s.function for s in a.steps] == [s.function for s in b.steps] == ["Square", "Exp", "Square"]
    for name in ("x", "a", "b"):
        assert float(a.grads[name]) != float(b.grads[name])
    for sa, sb in zip(a.steps[1:], b.steps[1:]):
        assert not np.array_equal(sa.gy[0], sb.gy[0])
    # no array is shared between the results, or with the notebook's Variables
    arrays_b = [x for _, x in _live_arrays(b)] + [ip.user_ns[n].data for n in "xaby"]
    arrays_b += [ip.user_ns[n].grad for n in "xaby"]
    for what, x in _live_arrays(a):
        assert not any(np.shares_memory(x, other) for other in arrays_b), f"ra's {what} shares memory"


def _live_arrays(result):
    """The result's own arrays (not copies)."""
    found = []
    for row in result.rows:
        found.append((f"{row.name}.value", row.value))
        if row.grad is not None:
            found.append((f"{row.name}.grad", row.grad))
    for step in result.steps:
        found.extend((f"step {step.index} gy", gy) for gy in step.gy)
        for flow in step.flows:
            found.extend([(f"step {step.index} flow grad", flow.grad), (f"step {step.index} flow total", flow.total)])
    return found


# ================================================================ memory


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def rss_growth(ip, cell_text, runs=1000, warmup=100):
    """RSS growth in bytes over ``runs`` runs of ``cell_text`` through the shell, after ``warmup``.

    Each run is ``%%grad --quiet -o r`` through ``ip.run_cell(..., store_history=False)``, and the
    result is then formatted (text/plain and text/html) with the shell's display formatter, as a
    notebook would show it. Why this way: a result returned by the cell goes to IPython's
    displayhook, which keeps it in Out/_N (the output cache) and, from IPython 9, appends its
    formatted bundle to history_manager.outputs; store_history=True also appends every input to
    In/_ih. Those are IPython's caches growing by design, not adiff-magic's memory, so --quiet
    (the magic returns None: nothing reaches the displayhook) and store_history=False keep them
    out, while the explicit format() still exercises the same rendering code. `-o r` rebinds one
    name each run, so only one result is alive at a time.
    """
    source = "%%grad --quiet -o r\n" + cell_text

    def once():
        outcome = ip.run_cell(source, store_history=False)
        assert outcome.success and outcome.result is None
        ip.display_formatter.format(ip.user_ns["r"])

    for _ in range(warmup):
        once()
    gc.collect()
    before = rss_bytes()
    for _ in range(runs):
        once()
    gc.collect()
    return rss_bytes() - before


RSS_LIMIT = 10 * 2 ** 20


def test_memory_does_not_grow_over_1000_runs(ip, seed_cell):
    growth = rss_growth(ip, seed_cell)
    print(f"RSS growth over 1,000 runs of the seed cell: {growth / 2 ** 20:.2f} MiB")
    assert growth < RSS_LIMIT, f"RSS grew by {growth / 2 ** 20:.1f} MiB over 1,000 runs"
    assert float(ip.user_ns["r"].grads["x"]) == pytest.approx(SEED_DX, rel=1e-15)


# ================================================================ a cell that reads and rebinds a name


def test_a_cell_that_rebinds_a_name_it_reads_leaves_the_previous_variables_alone(ip):
    """`x = x - lr` after a %%grad cell made x: the old x is read, and must not be differentiated
    again (its gradient belongs to the cell that made it; the magic says it only reads the notebook)."""
    grad_cell(ip, "x = 0.5\ny = square(x)\n")
    old_x = ip.user_ns["x"]
    assert float(old_x.grad) == 1.0
    step = "lr = 0.1\nx = x - lr\ny = square(x)\n"
    first = grad_cell(ip, step)
    assert float(first.values["x"]) == 0.4 and float(first.grads["x"]) == pytest.approx(0.8, rel=1e-15)
    assert float(old_x.grad) == 1.0, f"the previous cell's x.grad became {old_x.grad}"


def test_rerunning_a_cell_that_rebinds_a_name_it_reads_traces_only_its_own_steps(ip):
    """Each run of `x = x - lr` starts from the x the previous run left: its trace is still this
    cell's two steps, not a chain through every earlier run, and no earlier Variable changes."""
    grad_cell(ip, "x = 0.5\ny = square(x)\n")
    made = [ip.user_ns["x"]]
    grads = [float(made[0].grad)]
    for run in range(1, 4):
        result = grad_cell(ip, "lr = 0.1\nx = x - lr\ny = square(x)\n")
        assert float(result.values["x"]) == pytest.approx(0.5 - 0.1 * run, rel=1e-12)
        assert [s.function for s in result.steps] == ["Square", "Sub"], f"run {run}: {result.steps}"
        for k, (variable, g) in enumerate(zip(made, grads)):
            assert float(variable.grad) == g, f"run {run}: x from run {k} has grad {variable.grad}, was {g}"
        made.append(ip.user_ns["x"])
        grads.append(float(made[-1].grad))


def test_a_gradient_descent_step_cell_runs(ip):
    """`x = x - 0.1 * x.grad`: x is read from the notebook (it was made by the previous %%grad
    cell), so it is an input of this cell, as a name read from the notebook is."""
    grad_cell(ip, "x = 0.5\ny = square(x)\n")
    result = grad_cell(ip, "x = x - 0.1 * x.grad\ny = square(x)\n")
    assert float(result.values["x"]) == pytest.approx(0.4, rel=1e-15)
    assert float(result.values["y"]) == pytest.approx(0.16, rel=1e-15)
