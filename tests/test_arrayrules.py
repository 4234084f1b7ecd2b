"""The matrix forms of array steps are true: each formula the trace writes, evaluated with numpy on the
cell's own values and the step's incoming gradient G, gives the gradient the engine passed; the shapes
it writes are the arrays' shapes; a broadcast input is told and its axes are numpy's."""
import re

import numpy as np
import pytest

from adiff_magic.arrayrules import index_text, matrix_form, summed_axes
from adiff_magic.render import WORDS, compact_step, to_text
from adiff_magic.result import View

from reference import MLP  # noqa: E402  (the two-layer network, shared)

CELLS = {
    "mlp": MLP,
    "broadcast column times row": "a = np.array([[1.0], [2.0]])\nb = np.array([0.5, -1.0, 2.0])\n"
                                  "c = a * b\nd = c / (a + 3.0)\nloss = (d ** 2).sum()\n",
    "softmax cross-entropy": "z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 0.3]])\n"
                             "t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])\n"
                             "p = softmax(z)\nloss = -(t * log(p)).sum() / 2\n",
    "logistic regression": "X = np.array([[0.5, 1.0], [-1.0, 2.0], [1.5, -0.5]])\nw = np.array([[0.3], [-0.2]])\n"
                           "b = np.array([0.1])\nt = np.array([[1.0], [0.0], [1.0]])\n"
                           "p = sigmoid(matmul(X, w) + b)\n"
                           "loss = -mean(t * log(p) + (1 - t) * log(1 - p))\n",
    "log-softmax along the first axis": "z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 0.3]])\n"
                                        "q = log_softmax(z, axis=0)\nw = np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 1.5]])\n"
                                        "loss = (q * w).sum() + (softmax(z, axis=0) * w).sum()\n",
    "reshape transpose index": "x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])\nm = reshape(x, (2, 3))\n"
                               "n = transpose(m)\nr = n[1:, 0]\nloss = (exp(r) + sin(m).sum()).sum()\n",
    "sums and means over axes": "x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]])\ns = x.sum(axis=0)\n"
                                "m = mean(x, axis=1, keepdims=True)\nq = sqrt(x ** 2 + 1.0)\n"
                                "loss = (s * s).sum() + (m * cos(x)).sum() + (q / x.shape[0]).sum()\n",
    "broadcast_to and sum_to": "v = np.array([1.0, -0.5])\nB = broadcast_to(v, (3, 2))\nS = sum_to(B * B, (1, 2))\n"
                               "loss = (S ** 3).sum()\n",
}


def run_cell(cell: str):
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run

    return run(parse(cell), {"np": np}, Options(view=View()))[0]


def _evaluate(formula: str, G: np.ndarray, values: dict) -> np.ndarray:
    """The formula as numpy reads it: ⊙ is *, ᵀ is .T, x² is x**2, e^x is exp(x)."""
    scatter = re.fullmatch(r"zeros(\(.*?\)) with (.+) added at \[(.*)\]", formula)
    if scatter:
        out = np.zeros(eval(scatter.group(1)))
        np.add.at(out, eval(f"np.s_[{scatter.group(3)}]"), _evaluate(scatter.group(2), G, values))
        return out
    python = (formula.replace("⊙", "*").replace("·", "*").replace("−", "-").replace("ᵀ", ".T")
              .replace("²", "**2").replace("e^", "np.e**").replace("^", "**"))
    names = {"np": np, "G": G, "tanh": np.tanh, "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos,
             "sqrt": np.sqrt, "matmul": np.matmul, "mean": np.mean, "broadcast_to": np.broadcast_to,
             "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "softmax": _softmax, "sum_to": _sum_to,
             "reshape": np.reshape, "transpose": np.transpose, "log_softmax": _log_softmax, **values}
    return np.asarray(eval(python, names))


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(z, axis=-1):
    return np.log(_softmax(z, axis))


def _sum_to(g, shape):
    axes = summed_axes(tuple(shape), g.shape)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g


def _array_flows(result):
    for step in result.steps:
        if step.operands is None:
            continue
        for flow in step.flows:
            yield step, flow


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_written_matrix_form_gives_the_engines_gradient(name):
    result = run_cell(CELLS[name])
    values = {row.name: np.asarray(row.value) for row in result.rows}
    checked = 0
    for step, flow in _array_flows(result):
        form = matrix_form(step, flow)
        if form is None or "…" in form[0] or " where " in form[0] or re.search(r"\bc\b", form[0]):
            continue
        formula, shapes = form
        got = _evaluate(formula, np.asarray(step.gy[0]), values)
        assert got.shape == flow.grad.shape, (step.function, formula)
        np.testing.assert_allclose(got, flow.grad, rtol=1e-9, atol=1e-12, err_msg=f"{step.function}: {formula}")
        checked += 1
    assert checked >= 3, name  # the cell's array steps were written, not skipped


@pytest.mark.parametrize("name", sorted(CELLS))
def test_each_array_flow_shows_its_shape_and_every_step_is_named(name):
    result = run_cell(CELLS[name])
    for step, flow in _array_flows(result):
        lines = compact_step(step, WORDS["en"], result.target, 6)
        text = "\n".join(lines)
        assert str(flow.grad.shape) in text, (step.function, text)
        assert "G" in lines[0]  # the incoming gradient is named G in the header


def test_matmul_steps_write_their_shapes_in_the_cells_letters():
    result = run_cell(MLP)
    text = to_text(result, width=100)
    assert "dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3)" in text
    assert "dloss/dx = G @ W1ᵀ: (1, 3) @ (3, 2) → (1, 2)" in text
    assert "dloss/dW2 = hᵀ @ G: (3, 1) @ (1, 1) → (3, 1)" in text
    assert "b1 (3,) was broadcast to (1, 3); its gradient is summed over axis 0 back to (3,)" in text


def test_the_mlp_fits_45_lines_of_100_columns_with_no_array_past_its_precision():
    from adiff_magic.fmt import display_width

    text = to_text(run_cell(MLP), width=100)
    lines = text.splitlines()
    assert len(lines) <= 45 and max(display_width(line) for line in lines) <= 100, len(lines)
    table = text.split("\n\n")[0]
    numbers = re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", table.split("\n", 1)[1])
    mantissas = [len(n.split("e")[0].lstrip("-").replace(".", "").lstrip("0")) for n in numbers]
    loss = "4.952204750452534"  # the scalar target keeps every digit (compare print(loss))
    assert loss in table and all(m <= 6 for n, m in zip(numbers, mantissas) if n != loss)


@pytest.mark.parametrize("shape, out, axes", [((3,), (1, 3), (0,)), ((1,), (1, 1), (0,)), ((), (2, 3), (0, 1)),
                                              ((2, 1), (2, 3), (1,)), ((1, 3), (4, 3), (0,)),
                                              ((3, 1), (2, 3, 4), (0, 2)), ((2, 3), (2, 3), ()), ((3,), (2, 4), None)])
def test_summed_axes_are_numpys_broadcasting(shape, out, axes):
    assert summed_axes(shape, out) == axes
    if axes is not None:  # summing a broadcast array over those axes gives back the original's shape and sum
        x = np.arange(1.0, 1.0 + int(np.prod(shape))).reshape(shape)
        back = np.broadcast_to(x, out).sum(axis=axes, keepdims=True).reshape(shape)
        np.testing.assert_allclose(back, x * (np.prod(out) / max(np.prod(shape), 1)))


def test_index_text_is_what_the_cell_writes():
    assert index_text((slice(1, None), 0)) == "1:, 0"
    assert index_text(slice(None, 2)) == ":2"
    assert index_text((Ellipsis, 2)) == "..., 2"
    assert index_text(np.array([0, 2])) == "[0, 2]"
    assert index_text(slice(0, 6, 2)) == "0:6:2"


@pytest.mark.parametrize("width", [60, 80, 100])
def test_the_korean_network_keeps_every_line_within_the_width(width):
    """Wide characters count two columns: the bilingual table, notes, trace and element sentence fit."""
    from adiff_magic.fmt import display_width
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run

    result = run(parse(MLP), {"np": np}, Options(view=View(lang="ko"), wrt=("W1[0,1]", "W1", "x", "b1", "W2", "t")))[0]
    lines = to_text(result, width=width).splitlines()
    too_wide = [line for line in lines if display_width(line) > width and len(line.split()) > 1]
    assert not too_wide, too_wide[:3]


@pytest.mark.parametrize("name", sorted(CELLS))
def test_the_matrix_chain_of_every_array_input_gives_its_gradient(name):
    """--wrt W1: each equation dloss/dv = formula, evaluated with numpy on the cell's values and the named
    gradients it uses, is the gradient the engine gave v; its shape is written after it."""
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run

    plain = run_cell(CELLS[name])
    arrays = tuple(row.name for row in plain.rows if row.is_input and row.grad is not None and row.grad.ndim)
    result = run(parse(CELLS[name]), {"np": np}, Options(wrt=arrays))[0]
    values = {row.name: np.asarray(row.value) for row in result.rows}
    grads = {row.name: np.asarray(row.grad) for row in result.rows if row.grad is not None}
    written = [(label, formula, shape) for _, equations in result.matrices for label, formula, shape in equations or ()]
    assert {label for label, _, _ in written} >= set(arrays) - {n for n, eq in result.matrices if eq is None}
    for label, formula, shape in written:
        python = re.sub(r"d" + re.escape(result.target) + r"/d(\w+)", r"__grad_\1", formula)
        got = _evaluate(python, np.zeros(()), {**values, **{f"__grad_{k}": v for k, v in grads.items()}})
        expected = grads[label]
        assert tuple(shape) == expected.shape
        np.testing.assert_allclose(np.broadcast_to(got, expected.shape), expected, rtol=1e-9, atol=1e-12,
                                   err_msg=f"d{result.target}/d{label} = {formula}")


def test_the_networks_matrix_chain_reads_as_a_textbook_writes_it():
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run

    result = run(parse(MLP), {"np": np}, Options(wrt=("W1", "b1")))[0]
    text = to_text(result)
    for line in ("dloss/dW1 = xᵀ @ (dloss/dh ⊙ (1 - h²)), (2, 3)", "dloss/dh = dloss/dy @ W2ᵀ, (1, 3)",
                 "dloss/dy = 2·(y - t), (1, 1)", "dloss/db1 = (dloss/dh ⊙ (1 - h²)).sum(axis=0), (3,)"):
        assert line in text
    assert text.count("dloss/dh = dloss/dy @ W2ᵀ") == 1  # a shared equation is written once
