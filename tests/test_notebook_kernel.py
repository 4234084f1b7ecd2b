"""%%grad in a real notebook kernel (ipykernel driven by nbclient): the front end gets HTML and text."""
import nbformat
from nbclient import NotebookClient
from reference import html_table, seed_notebook_cells, text_table


def execute(*sources: str) -> list:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    return notebook.cells


def test_grad_cell_in_a_kernel_gives_html_text_and_bound_names(seed_cell):
    cells = execute("%load_ext adiff_magic", "%%grad\n" + seed_cell, "print(x.grad)",
                    "%%grad --graph\nx = 2.0\ny = x * x")
    (result,) = [o for o in cells[1].outputs if o.output_type == "execute_result"]
    assert "<table" in result.data["text/html"]
    assert html_table(result.data["text/html"])["x"]["dy/d(name)"] == "3.297442541400256"
    assert text_table(result.data["text/plain"])["x"]["dy/d(name)"] == "3.297442541400256"
    assert cells[2].outputs[0].text == "3.297442541400256\n"
    kinds = [set(o.get("data", {})) for o in cells[3].outputs]
    assert {"image/svg+xml", "image/png", "text/plain"} in kinds


def test_an_error_in_a_kernel_is_one_usage_error_without_traceback():
    # IPython shows a UsageError as one stderr paragraph; the kernel still reports the cell as
    # failed, so nbclient stops unless the cell is tagged raises-exception
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext adiff_magic"),
        nbformat.v4.new_code_cell("%%grad\nx = 0.5\nb = sqaure(x)", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("print('x' in dir())"),
    ])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    (error,) = notebook.cells[1].outputs
    assert error.output_type == "stream" and error.name == "stderr"
    assert error.text == "UsageError: line 2: unknown function 'sqaure' (did you mean 'square'?)\n    b = sqaure(x)\n"
    assert notebook.cells[2].outputs[0].text == "False\n"  # the failed cell bound nothing


def test_the_seed_notebook_verbatim_then_grad_over_its_own_cell_15():
    # the learner's notebook as it is, cell by cell, with the extension loaded; then %%grad over its
    # cell 15 explains the learner's own classes, and x stays their Variable
    seed = seed_notebook_cells()
    cells = execute("%load_ext adiff_magic", *[source for source, _ in seed], "%%grad\n" + seed[14][0],
                    "print(type(x).__module__, type(x).__name__, x.grad)")
    for (source, printed), cell in zip(seed, cells[1:16]):
        assert [o.get("text", "") for o in cell.outputs if o.output_type == "stream"] == \
            ([printed + "\n"] if printed else []), source
    grad_cell = cells[16]
    assert grad_cell.outputs[0].text == "3.297442541400256\n"  # the cell's own print, first
    (result,) = [o for o in grad_cell.outputs if o.output_type == "execute_result"]
    text, html = result.data["text/plain"], result.data["text/html"]
    assert text.startswith("your classes from this notebook: Variable, Square, Exp\n")
    assert text_table(text.split("\n\n", 1)[1])["x"]["dy/d(name)"] == "3.297442541400256"
    assert html_table(html)["x"]["dy/d(name)"] == "3.297442541400256"
    assert "✓ line 8  y.creator = Square, input b → Square.backward(dy/dy = 1)" in text and "3 ✓" in html
    assert cells[17].outputs[0].text == "__main__ Variable 3.297442541400256\n"
