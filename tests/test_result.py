"""Tests for adiff_magic.result: GradResult, Row and View are frozen plain data, and a GradResult
shows itself through the renderer (text for repr() and IPython's pretty printer, HTML for notebooks).

Results are built by hand here, with the seed chain's numbers (x = 0.5, a = x², b = e^a, y = b²:
dy/dx = 2·e^0.5, d²y/dx² = 8·e^0.5), and one is taken from a real %%grad run.
"""
import dataclasses
import io
import math

import numpy as np

from adiff_magic.elements import ElementRule
from adiff_magic.owncheck import StepCheck
import pytest
from IPython.lib.pretty import RepresentationPrinter, pretty

from adiff_magic.model import ChainRule, Factor, Label
from adiff_magic.render import to_html, to_text
from adiff_magic.forward import Hessian, Line, Modes
from adiff_magic.result import GradResult, Row, View
from engine import Variable
from adiff_magic.trace import BackwardStep, Flow, Local
from reference import html_table, text_table

DX = 3.297442541400256  # 2·e^0.5
DXX = 13.189770165601024  # 8·e^0.5: y = e^(2x²), y'' = (4 + 16x²)·e^(2x²)
DB = 2.568050833375483
E25 = 1.2840254166877414  # e^0.25


def hand_made(**changes) -> GradResult:
    """The seed chain's result with only the required fields, as the ordinary backward pass gives it."""
    rows = (
        Row("x", 1, "0.5", np.array(0.5), np.array(DX), True),
        Row("a", 2, "square(x)", np.array(0.25), np.array(DX), False),
        Row("b", 3, "exp(a)", np.array(1.2840254166877414), np.array(DB), False),
        Row("y", 4, "square(b)", np.array(1.648721270700128), np.array(1.0), False),
    )
    step = BackwardStep(1, "Square", "y", 4, "y = square(b)", (np.array(1.0),), "d/dx x² = 2x",
                        (Flow("b", Local("2·{x}", {"x": "b", "y": "y"}, {"x": 1.2840254166877414, "y": 1.648721270700128}, 2.568050833375483), np.array(DB), False, np.array(DB)),))
    fields = dict(target="y", rows=rows, steps=(step,), values={r.name: r.value for r in rows},
                  grads={r.name: r.grad for r in rows})
    fields.update(changes)
    return GradResult(**fields)


def every_field() -> dict:
    """A value for each optional field, as --order 2 --check --graph --plot would give them."""
    nodes = (("v0", "variable", "x", np.array(0.5), np.array(DX)), ("f0", "function", "Square", None, None),
             ("v1", "variable", "a", np.array(0.25), np.array(DX)))
    seed_path = (Factor("y", "b", 2 * 1.2840254166877414), Factor("b", "a", 1.2840254166877414), Factor("a", "x", 1.0))
    return dict(
        paths={"x": ChainRule("x", 1, (seed_path,), DX)},
        derivatives={"x": [DX, DXX]},
        check={"x": 1.5e-11},
        check_passed={"x": True},
        check_tolerance=1e-4,
        numerical={"x": np.array(3.297442541350115)},
        notes=("a note the reader must see",),
        explanations=("why the gradient surprises",),
        graph=(nodes, (("v0", "f0"), ("f0", "v1"))),
        plot_png=b"\x89PNG\r\n\x1a\n",
        view=View(trace=False, table=True, graph=True, lang="en"),
        own_classes=("Variable", "Square"),
        own_check=(StepCheck(1, "Square", "Square.backward", "✓", (np.array(1.0),), (np.array(1.0),),
                             (np.array(1.0),), (None,)),),
        elements=(ElementRule("x", 1, ((Factor("y", "x", DX),),), DX),),
        matrices=(("w", (("w", "xᵀ @ dy/dh", (2, 1)),)),),
        modes=seed_modes(),
        tangents=seed_modes().tangents,
        hessian={("x", "x"): DXX},
        second=Hessian(("x",), np.array([[DXX]]), np.array([DX]), np.array([0.5])),
    )


def seed_modes() -> Modes:
    """Forward mode on the seed chain, by hand: ȧ = 2x·ẋ = 1, ḃ = e^a·ȧ = e^0.25, ẏ = 2b·ḃ = DX."""
    values = {"x": 0.5, "a": 0.25, "b": E25, "y": E25 ** 2}
    made = {"a": ("x", "square(x)", 1.0), "b": ("a", "exp(a)", E25), "y": ("b", "square(b)", 2 * E25)}
    lines = [Line(Label("x", 1), Variable(np.array(0.5)), True, "0.5")]
    for lineno, (name, (operand, expression, partial)) in enumerate(made.items(), 2):
        lines.append(Line(Label(name, lineno), Variable(np.array(values[name])), False, expression, (operand,),
                          (partial,), (None,)))
    tangents = {"x": {"x": np.array(1.0), "a": np.array(1.0), "b": np.array(E25), "y": np.array(DX)}}
    adjoints = {"x": np.array(DX), "a": np.array(DX), "b": np.array(DB), "y": np.array(1.0)}
    return Modes(tuple(lines), ("x",), tangents, adjoints, (("x", 1),), "y", 1, 0.0, 1e-9, (), (), {"x": DX})


def pretty_text(result, cycle: bool) -> str:
    """What IPython's pretty printer writes for the result."""
    out = io.StringIO()
    printer = RepresentationPrinter(out)
    result._repr_pretty_(printer, cycle)
    printer.flush()
    return out.getvalue()


# ================================================================ GradResult: fields


def test_a_result_is_built_with_every_field_and_keeps_each():
    extra = every_field()
    result = hand_made(**extra)
    names = {f.name for f in dataclasses.fields(GradResult)}
    assert names == {"target", "rows", "steps", "values", "grads"} | set(extra), "a field this test does not build"
    for name, value in extra.items():
        assert getattr(result, name) is value, name
    assert result.target == "y" and [row.name for row in result.rows] == ["x", "a", "b", "y"]
    assert len(result.steps) == 1 and result.steps[0].function == "Square"
    assert float(result.values["y"]) == 1.648721270700128 and float(result.grads["x"]) == DX
    assert result.check_passed == {"x": True} and result.derivatives["x"] == [DX, DXX]
    assert result.notes == ("a note the reader must see",) and len(result.graph[0]) == 3
    assert result.plot_png.startswith(b"\x89PNG")


def test_optional_fields_default_to_empty_and_each_result_has_its_own():
    first, second = hand_made(), hand_made()
    assert first.paths == {} and first.derivatives == {} and first.check == {} and first.check_passed == {} and first.numerical == {}
    assert first.notes == () and first.graph == () and first.plot_png is None
    assert first.check_tolerance == 1e-5
    assert first.view == View()
    for name in ("paths", "derivatives", "check", "check_passed", "numerical"):
        assert getattr(first, name) is not getattr(second, name), f"{name} is shared between results"


@pytest.mark.parametrize("name, value", [
    ("target", "x"), ("rows", ()), ("steps", ()), ("values", {}), ("grads", {}), ("derivatives", {}),
    ("check", {}), ("check_passed", {"x": False}), ("check_tolerance", 1.0), ("numerical", {}),
    ("notes", ()), ("graph", ()), ("plot_png", b""), ("view", View(trace=False)),
])
def test_a_result_is_frozen(name, value):
    result = hand_made(**every_field())
    before = getattr(result, name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(result, name)
    assert getattr(result, name) is before


def test_replace_gives_a_new_result_and_leaves_the_old_one():
    result = hand_made()
    changed = dataclasses.replace(result, notes=("changed",))
    assert changed is not result and changed.notes == ("changed",) and result.notes == ()
    assert changed.rows is result.rows and changed.grads is result.grads


# ================================================================ GradResult: how it shows itself


@pytest.mark.parametrize("extra", [{}, every_field(), {"view": View(lang="ko")}, {"view": View(trace=False)}],
                         ids=["required-fields", "every-field", "korean", "no-trace"])
def test_repr_is_the_text_and_repr_html_is_the_html_of_the_renderer(extra):
    result = hand_made(**extra)
    assert repr(result) == to_text(result)
    assert result._repr_html_() == to_html(result)
    assert pretty_text(result, cycle=False) == to_text(result)
    assert pretty(result) == to_text(result)


def test_the_renderings_show_the_results_own_numbers():
    result = hand_made(**every_field())
    # read in columns (a text narrower than the table's 109 columns stacks it, a block per row)
    for table in (text_table(to_text(result, width=120)), html_table(result._repr_html_())):
        assert table["x"]["dy/d(name)"] == "3.297442541400256"
        assert table["x"]["d²y/d(name)²"] == "13.189770165601024"
        assert table["x"]["central difference"] == "3.297442541350115"
        assert table["b"]["dy/d(name)"] == "2.568050833375483" and table["y"]["value"] == "1.648721270700128"


def test_pretty_with_a_cycle_prints_a_placeholder():
    assert pretty_text(hand_made(), cycle=True) == "GradResult(...)"
    assert pretty_text(hand_made(**every_field()), cycle=True) == "GradResult(...)"


# ================================================================ Row and View


def test_row_is_frozen_plain_data():
    row = Row("x", 1, "0.5", np.array(0.5), np.array(DX), True)
    assert [f.name for f in dataclasses.fields(Row)] == ["name", "lineno", "expression", "value", "grad", "is_input"]
    assert (row.name, row.lineno, row.expression, float(row.value), float(row.grad), row.is_input) == \
           ("x", 1, "0.5", 0.5, DX, True)
    for name in ("name", "lineno", "expression", "value", "grad", "is_input"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(row, name, None)
    notebook = Row("w", None, "notebook", np.array(3.0), None, True)  # read from the notebook; no gradient
    assert notebook.lineno is None and notebook.grad is None
    moved = dataclasses.replace(row, name="x#1")
    assert moved.name == "x#1" and row.name == "x" and moved.value is row.value


def test_view_is_frozen_plain_data_with_defaults():
    assert [f.name for f in dataclasses.fields(View)] == ["trace", "table", "graph", "lang", "full_trace", "digits",
                                                   "table_digits", "mode", "folded", "quiz"]
    view = View()
    assert (view.trace, view.table, view.graph, view.lang, view.full_trace, view.digits, view.table_digits,
            view.mode, view.folded, view.quiz) == (True, True, False, "en", False, 6, None, "reverse", False, False)
    assert View() == View() and View(lang="ko") != View()
    assert hash(View(graph=True)) == hash(View(graph=True))  # frozen and compared by value: usable as a key
    for name in ("trace", "table", "graph", "lang"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(view, name, None)


# ================================================================ a result from a real %%grad run


def test_a_real_runs_result_is_a_frozen_grad_result(grad, seed_cell):
    result = grad(seed_cell)
    assert type(result) is GradResult
    assert all(type(row) is Row for row in result.rows) and result.view == View()
    assert result.target == "y" and float(result.grads["x"]) == pytest.approx(2 * math.exp(0.5), rel=1e-15)
    assert result.derivatives == {} and result.check == {} and result.check_passed == {}
    assert result.numerical == {} and result.graph == () and result.plot_png is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.target = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rows[0].grad = None
    assert result.target == "y"


def test_a_real_runs_result_shows_itself_through_ipython(ip, grad, seed_cell):
    result = grad(seed_cell)
    assert repr(result) == to_text(result)
    assert result._repr_html_() == to_html(result)
    assert pretty_text(result, cycle=True) == "GradResult(...)"
    bundle, _ = ip.display_formatter.format(result)
    assert bundle["text/plain"] == to_text(result) and bundle["text/html"] == to_html(result)
    assert text_table(bundle["text/plain"])["x"]["dy/d(name)"] == "3.297442541400256"
    assert html_table(bundle["text/html"])["x"]["dy/d(name)"] == "3.297442541400256"


def test_a_real_run_with_options_fills_the_optional_fields(grad, seed_cell):
    result = grad(seed_cell, "--order 2 --check --graph")
    # d/dx e^(2x²) = 4x·e^(2x²) = 2·e^0.5 and d²/dx² = (4 + 16x²)·e^(2x²) = 8·e^0.5 at x = 0.5
    assert result.derivatives["x"] == pytest.approx([2 * math.exp(0.5), 8 * math.exp(0.5)], rel=1e-12)
    assert result.check_passed == {"x": True} and result.check["x"] < result.check_tolerance
    assert float(result.numerical["x"]) == pytest.approx(2 * math.exp(0.5), rel=1e-6)
    nodes, edges = result.graph
    assert sorted(n[2] for n in nodes if n[1] == "function") == ["Exp", "Square", "Square"] and edges
    assert result.view.graph is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.check_passed = {"x": False}
    assert result.check_passed == {"x": True}
