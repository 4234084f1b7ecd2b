"""demo.ipynb runs top to bottom in a real kernel, and its committed outputs are today's outputs."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from reference import html_table, text_table

DEMO = Path(__file__).resolve().parent.parent / "demo.ipynb"
COMPARED = ("text/plain", "text/html", "image/svg+xml")  # image/png bytes vary with matplotlib builds


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.read(DEMO, as_version=4)
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(DEMO.parent)}}).execute()
    return notebook


def grad_output(notebook: nbformat.NotebookNode, snippet: str) -> dict:
    """The execute_result data of the first %%grad cell whose source contains ``snippet``."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%grad") and snippet in cell.source:
            (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
            return result.data
    raise AssertionError(f"no %%grad cell contains {snippet!r}")


@pytest.mark.parametrize("snippet, numbers", [
    ("y = square(b)", {("x", "dy/d(name)"): "3.297442541400256", ("b", "dy/d(name)"): "2.568050833375483",
                       ("y", "value"): "1.648721270700128"}),  # the seed chain
    ("y = a**2 + a**2", {("x", "dy/d(name)"): "64"}),  # the diamond, not 96
    ("(1 + (x + y + 1)**2", {("x", "dz/d(name)"): "-5376", ("y", "dz/d(name)"): "8064"}),  # Goldstein-Price at (1, 1)
    ("--order 2", {("x", "dy/d(name)"): "24", ("x", "d²y/d(name)²"): "44"}),  # 4x³ − 4x and 12x² − 4 at x = 2
    ("if x > 0:", {("x", "dy/d(name)"): "-1"}),  # x = −0.5 takes the else branch: y = −x, dy/dx = −1
    # the logistic regression at z = 0, p = ½: loss = −log p; a pass per input gives the loss row's tangents,
    # the one backward pass the inputs' adjoints: dloss/dw = (p − t)·x = −1; ṗ in x's pass = p(1 − p)·w = 0.125
    ("--mode both", {("loss", "d/dw"): "-1", ("loss", "d/dx"): "-0.25", ("loss", "d/dt"): "0",
                     ("w", "dloss/d(name)"): "-1", ("p", "d/dx"): "0.125", ("p", "dloss/d(name)"): "-2"}),
])
def test_grad_cells_give_html_and_text_with_the_known_numbers(executed, snippet, numbers):
    """Each number is a whole cell of its row and column, in the text table and in the HTML one."""
    data = grad_output(executed, snippet)
    assert "<table" in data["text/html"]
    text, html = text_table(data["text/plain"]), html_table(data["text/html"])
    for (row, column), number in numbers.items():
        assert text[row][column] == number, (row, column, text[row])
        assert html[row][column] == number, (row, column, html[row])


def test_the_two_modes_and_the_newton_step_say_their_sentences(executed):
    both = " ".join(grad_output(executed, "--mode both")["text/plain"].split())
    assert "reverse: 1 backward pass gave all 4 input gradients; forward: 4 passes, one per input" in both
    newton = grad_output(executed, "--hessian")
    for form in ("text/plain", "text/html"):  # y = x⁴ − 2x² at 2: y′ = 24, y″ = 44
        assert "x ← x − y′/y″ = 2 − 24/44 = 1.45455" in newton[form]


def test_no_unexpected_errors(executed):
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        failed = any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"
                                                     and "Error" in o.text) for o in cell.outputs)
        assert failed == ("raises-exception" in cell.metadata.get("tags", [])), cell.source


def test_the_graph_and_plot_cells_show_their_pictures(executed):
    kinds = [set(o.get("data", {})) for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any({"image/svg+xml", "image/png"} <= k for k in kinds)  # --graph: the SVG with its PNG fallback
    assert any(k == {"image/png", "text/plain"} for k in kinds)  # --plot


def coalesced(outputs: list) -> list:
    """The outputs with consecutive chunks of one stream joined: how print() output is cut into chunks
    depends on the kernel's timing, not on the code."""
    joined: list = []
    for output in outputs:
        if output.output_type == "stream" and joined and joined[-1].get("output_type") == "stream" \
                and joined[-1]["name"] == output.name:
            joined[-1] = {**joined[-1], "text": joined[-1]["text"] + output.text}
        else:
            joined.append(output)
    return joined


def test_committed_outputs_are_what_the_code_produces_today(executed):
    committed = nbformat.read(DEMO, as_version=4)
    for old, new in zip(committed.cells, executed.cells):
        if old.cell_type != "code":
            continue
        old_outputs, new_outputs = coalesced(old.outputs), coalesced(new.outputs)
        assert len(old_outputs) == len(new_outputs), old.source
        for a, b in zip(old_outputs, new_outputs):
            assert a.get("text") == b.get("text"), old.source
            for kind in COMPARED:
                assert a.get("data", {}).get(kind) == b.get("data", {}).get(kind), (old.source, kind)
    # refresh with: .venv/bin/jupyter nbconvert --to notebook --execute --inplace demo.ipynb


def test_nbconvert_html_shows_each_graph_as_its_svg_picture():
    """`jupyter nbconvert --to html` of the committed demo: each --graph output is an <img> of the SVG."""
    import base64
    import re

    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(nbformat.read(DEMO, as_version=4))
    found = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    pictures = [base64.b64decode(data).decode() for data in found]
    graph_cells = [cell for cell in nbformat.read(DEMO, as_version=4).cells
                   if cell.cell_type == "code" and cell.source.startswith("%%grad --graph")]
    assert len(pictures) == len(graph_cells) >= 2
    assert any("Sigmoid" in svg and "w*x" in svg for svg in pictures)  # the logistic regression
    assert any("Pow" in svg and "a**2 [2]" in svg for svg in pictures)  # the diamond, its two a**2 told apart
    assert all(svg.startswith("<svg") and "<script" not in svg for svg in pictures)
