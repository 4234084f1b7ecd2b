"""Tests for adiff_magic.own: %%grad over the learner's own DeZero classes: the seed notebook's, and
the book's at seven steps (tests/book_classes.py), checked against hand derivations and this engine."""
import contextlib
import io
import textwrap

import numpy as np
import pytest
from IPython.core.error import UsageError

from adiff_magic import own
from book_classes import STAGES, load
from reference import SEED_GRAD, seed_notebook_cells

SEED = seed_notebook_cells()


def run_cells(ip, *sources):
    """Run notebook cells in the shell (IPython keeps their source, so a class's lines are known)."""
    for source in sources:
        result = ip.run_cell(textwrap.dedent(source))
        assert result.success, source


def printed(action):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = action()
    return value, out.getvalue()


def with_stage(ip, stage):
    """The shell's namespace holding the book's classes at ``stage``."""
    ip.user_ns.update({k: v for k, v in load(stage).items() if not k.startswith("__")})


# ================================================================ the seed notebook


def test_the_seed_notebooks_own_cell_15_is_traced_explained_and_checked(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:14]])
    result, out = printed(lambda: grad(SEED[14][0]))
    assert out.strip() == SEED_GRAD  # the cell's own print, as in the notebook
    assert repr(float(result.grads["x"])) == SEED_GRAD
    assert result.own_classes == ("Variable", "Square", "Exp")
    assert [step.function for step in result.steps] == ["Square", "Exp", "Square"]
    assert [check.verdict for check in result.own_check] == ["✓", "✓", "✓"]
    x = ip.user_ns["x"]
    assert type(x).__name__ == "Variable" and type(x).__module__ == "__main__"  # still the learner's
    assert repr(float(x.grad)) == SEED_GRAD and isinstance(x.grad, np.ndarray)
    text = repr(result)
    assert text.startswith("your classes from this notebook: Variable, Square, Exp")
    assert "3 ✓" in text and "3.297442541400256" in text
    html = result._repr_html_()
    assert "your classes from this notebook: Variable, Square, Exp" in html and "3 ✓" in html


def test_seed_classes_without_creator_get_one_clear_message(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:4]])
    with pytest.raises(UsageError, match=r"line 9: the target 'y' is your own Variable, which has no \.creator.*"
                                         r"step 7.*--engine ours"):
        grad(SEED[4][0])


def test_engine_ours_runs_the_seed_cell_on_this_engine(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:14]])
    result, _ = printed(lambda: grad(SEED[14][0], "--engine ours"))
    assert repr(float(result.grads["x"])) == SEED_GRAD and not result.own_classes
    assert type(ip.user_ns["x"]).__module__ == "engine.core"


def test_engine_own_refuses_a_target_this_engine_made(ip, grad):
    with pytest.raises(UsageError, match="--engine own: the target 'y' was made by this engine"):
        grad("x = 0.5\ny = sin(x)\n", "--engine own")


# ================================================================ the book's steps


CHAIN = "x = Variable(np.array(0.5))\na = square(x)\nb = exp(a)\ny = square(b)\n"  # y = (e^(x²))²
DIAMOND = "x = Variable(np.array(2.0))\na = square(x)\ny = add(square(a), square(a))\n"  # y = 2x⁴: 8x³ = 64
OPERATORS = "x = Variable(np.array(2.0))\ny = 3 * x ** 2 - 2 / x + (1 - x) - (-x) / 4\n"  # y' = 6x + 2/x² - 1 + 1/4


@pytest.mark.parametrize("stage", ["step8", "step13", "step16", "step17", "step22", "step32"])
def test_the_books_chain_at_each_step(ip, grad, stage):
    with_stage(ip, stage)
    result = grad(CHAIN)
    assert repr(float(result.grads["x"])) == SEED_GRAD
    assert float(result.grads["b"]) == pytest.approx(2 * np.exp(0.25))  # dy/db = 2b
    assert all(check.verdict == "✓" for check in result.own_check) and len(result.own_check) == 3


def test_the_books_recursive_backward_of_step_7_is_never_called(ip, grad):
    # 3,000 functions: the learner's recursive Variable.backward would pass Python's recursion limit
    with_stage(ip, "step7")
    cell = "x = Variable(np.array(0.5))\ny = x\nfor i in range(3000):\n    y = Exp()(Square()(y)) if False else Square()(y)\n"
    result = grad(cell, "--no-trace")
    assert len(result.steps) == 3000  # y = x^(2^3000) overflows: the gradient is inf or nan, as theirs would be
    assert all(check.verdict in "✓?" for check in result.own_check)


@pytest.mark.parametrize("stage", ["step16", "step17", "step22", "step32"])
def test_a_diamond_accumulates_as_from_step_16(ip, grad, stage):
    with_stage(ip, stage)
    result = grad(DIAMOND)
    assert float(result.grads["x"]) == 64.0 and float(result.grads["a"]) == 16.0  # 2·2a = 4a, a = 4
    assert float(ip.user_ns["a"].grad if stage != "step32" else ip.user_ns["a"].grad.data) == 16.0


@pytest.mark.parametrize("stage", ["step22", "step32"])
def test_operators_of_steps_20_to_22(ip, grad, stage):
    with_stage(ip, stage)
    result = grad(OPERATORS)
    assert float(result.grads["x"]) == pytest.approx(6 * 2 + 2 / 4 - 1 + 1 / 4)  # 11.75
    assert float(result.values["y"]) == pytest.approx(10.5)


@pytest.mark.parametrize("stage, kind", [("step16", np.ndarray), ("step32", "Variable")])
def test_grad_keeps_the_form_their_backward_gives_it(ip, grad, stage, kind):
    with_stage(ip, stage)
    grad(CHAIN)
    held = ip.user_ns["x"].grad
    if kind == "Variable":
        assert type(held) is ip.user_ns["Variable"] and repr(float(held.data)) == SEED_GRAD
    else:
        assert isinstance(held, np.ndarray) and repr(float(held)) == SEED_GRAD


@pytest.mark.parametrize("stage", ["step16", "step22"])
def test_gradients_equal_this_engines_on_the_same_cells(ip, grad, stage):
    cells = [CHAIN, DIAMOND] + ([OPERATORS] if stage == "step22" else [])
    for cell in cells:
        with_stage(ip, stage)
        theirs = grad(cell, "--quiet -o theirs") or ip.user_ns["theirs"]
        ours = grad(cell, "--engine ours --quiet -o ours") or ip.user_ns["ours"]
        for name in theirs.grads:
            np.testing.assert_allclose(theirs.grads[name], ours.grads[name], rtol=1e-15)


def test_a_cell_that_ran_backward_twice_gets_a_note_and_one_clean_pass(ip, grad):
    with_stage(ip, "step16")
    result = grad(CHAIN + "y.backward()\ny.backward()\n")  # no cleargrad: their gradients pile up
    assert repr(float(result.grads["x"])) == SEED_GRAD
    # the second pass starts from y.grad = 1 again, so b.grad = 2·2.56805; Exp passes e^a·b.grad, so
    # a.grad = g + 2g (g = 3.29744); Square passes 2x·a.grad = 3g more to x: x.grad = g + 3g = 4g
    note = next(note for note in result.explanations if ".grad was" in note)
    assert "x.grad was 13.1898, one clean backward gives 3.29744" in note
    assert "the cell ran backward() 2 times without cleargrad()" in note and "passed on again" in note
    assert "why: x.grad was 13.1898" in repr(result) and "why: x.grad was 13.1898" in result._repr_html_()
    assert repr(float(ip.user_ns["x"].grad)) == SEED_GRAD  # one clean pass, as the table says


# ================================================================ their backward, checked


EXP_WITHOUT_GY = """\
class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        x = self.input.data
        return np.exp(x)
"""


def test_a_wrong_backward_is_named_at_its_step_with_its_numbers_and_a_hint(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:14]], EXP_WITHOUT_GY)
    result, _ = printed(lambda: grad(SEED[14][0]))
    assert [check.verdict for check in result.own_check] == ["✓", "✗", "✓"]
    wrong = result.own_check[1]
    assert wrong.function == "Exp" and wrong.hint == "did it forget to multiply by gy?"
    assert wrong.sentence() == ("Exp.backward (line 5 of its cell) passed back 1.28403; incoming 2.56805 × local "
                                "1.28403 = 3.29744: did it forget to multiply by gy?")
    assert float(result.grads["x"]) == pytest.approx(np.exp(0.25) * 1.0)  # their walk: 2.56805 × 0.5 / ... = e^0.25
    assert "✗ first wrong step, 2: Exp.backward" in repr(result)
    assert "✗ line 7  b.creator = Exp, input a → Exp.backward(dy/db = 2.56805)" in repr(result)


@pytest.mark.parametrize("body, message", [
    ("return np.exp(self.input.data) * gyy", r"Exp\.backward \(line 5 of its cell\) raised NameError"),
    ("gx = np.exp(self.input.data) * gy", r"Exp\.backward \(line 5 of its cell\) returned None.*to return gx"),
    ("return np.ones(3) * gy", r"returned shape \(3,\), for an input of shape \(\)"),
    ("return gy, gy", r"returned 2 gradients for 1 input"),
])
def test_a_backward_that_cannot_give_a_gradient_is_one_message_and_the_cell_still_ran(ip, grad, body, message):
    run_cells(ip, *[source for source, _ in SEED[:14]], f"""\
class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        {body}
""")
    ip.user_ns.pop("y", None)
    with pytest.raises(UsageError, match=message) as raised:
        grad("x = Variable(np.array(0.5))\na = Square()(x)\nb = Exp()(a)\ny = Square()(b)\n")
    assert str(raised.value).startswith("line 3: ")  # the cell's line that called Exp
    assert "the cell itself ran" in str(raised.value)
    assert type(ip.user_ns["y"]).__name__ == "Variable" and ip.user_ns["x"].grad is None


def test_their_variable_into_this_engines_function_is_refused_clearly(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:14]])
    ip.user_ns.pop("exp", None)
    before = ip.user_ns["y"]
    with pytest.raises(UsageError, match=r"line 2: exp is this engine's, and it was given your own Variable.*"
                                         r"do not mix.*--engine ours"):
        grad("x = Variable(np.array(0.5))\ny = exp(x)\n")
    assert ip.user_ns["y"] is before  # a mistake in the cell changes nothing


# ================================================================ --step and --graph over their classes


def test_step_model_marks_steps_and_replays_their_classes_at_slider_values(ip):
    from adiff_magic.parser import parse
    from adiff_magic.runner import Options, run_recorded
    from adiff_magic.stepper import step_model

    run_cells(ip, *[source for source, _ in SEED[:14]], EXP_WITHOUT_GY)
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, recorded = run_recorded(parse(SEED[14][0]), ip.user_ns)
    model = step_model(recorded)
    assert [step.lines[0][0] for step in model.steps] == ["✓", "✗", "✓"]
    assert model.steps[1].lines[-1].startswith("✗ Exp.backward (line 5 of its cell) passed back 1.28403")
    moved = step_model(recorded, {"x": 1.0})  # their classes, called afresh at x = 1: b = e, dy/db = 2e
    assert "Exp.backward(dy/db = 5.43656)" in moved.steps[1].lines[0]
    assert "incoming 5.43656 × local 2.71828 = 14.7781" in moved.steps[1].lines[-1]


def test_graph_draws_their_classes_by_name(ip, grad):
    run_cells(ip, *[source for source, _ in SEED[:14]])
    result, _ = printed(lambda: grad(SEED[14][0], "--graph --quiet -o r") or ip.user_ns["r"])
    functions = [node.text for node in result.graph.nodes if node.kind == "function"]
    assert sorted(functions) == ["Exp", "Square", "Square"]
    run_cells(ip, EXP_WITHOUT_GY)
    result, _ = printed(lambda: grad(SEED[14][0], "--graph --quiet -o r") or ip.user_ns["r"])
    functions = [node.text for node in result.graph.nodes if node.kind == "function"]
    assert sorted(functions) == ["Exp ✗", "Square", "Square"]  # the wrong step, marked in the picture


# ================================================================ recognising their shape


def test_shapes_are_recognised_by_their_attributes():
    from engine import Variable

    class Theirs:
        def __init__(self, data):
            self.data, self.grad, self.creator = data, None, None

    class Early:
        def __init__(self, data):
            self.data, self.grad = data, None

    assert own.is_variable(Theirs(np.array(1.0))) and not own.lacks_creator(Theirs(np.array(1.0)))
    assert own.lacks_creator(Early(np.array(1.0))) and not own.is_variable(Early(np.array(1.0)))
    assert not own.is_variable(Variable(np.array(1.0))) and not own.is_variable(np.array(1.0))
    assert not own.is_variable(Theirs)  # the class itself


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_functions_under_respects_the_graph_at_every_step(stage):
    classes = load(stage)
    np_ = np
    x = classes["Variable"](np_.array(2.0))
    square = classes.get("square") or (lambda v: classes["Square"]()(v))
    y = square(square(x))
    order = own.functions_under(y)
    assert len(order) == 2 and own.inputs_of(order[0])[0] is x  # the function of x runs first forward


def test_a_long_walk_checks_the_steps_nearest_the_target_and_says_how_many(ip, grad):
    with_stage(ip, "step16")
    result = grad("x = Variable(np.array(0.5))\ny = x\nfor i in range(1200):\n    y = add(y, x)\n", "--no-trace")
    assert float(result.grads["x"]) == 1201.0  # y = 1201·x
    assert len(result.steps) == 1200 and len(result.own_check) == own.MAX_CHECKED_GENERATIONS
    assert [check.index for check in result.own_check] == list(range(1, 1001))  # the first to run: nearest y
    assert any(note.startswith("1,000 of the 1,200 steps of your backward were checked") for note in result.notes)


# ================================================================ differential: their classes against this engine

from hypothesis import given, strategies as st  # noqa: E402

LEAVES = st.sampled_from(["x", "w", "2.0", "0.5"])


def expressions(depth: int = 3):
    """Expressions the book's step-22 classes can build: + - * / ** (a constant power) and negation."""
    if depth == 0:
        return LEAVES
    inner = expressions(depth - 1)
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    power = st.tuples(inner, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]}) ** {t[1]}")
    return st.one_of(LEAVES, binary, power, inner.map(lambda e: f"(-{e})"))


@given(expression=expressions(), x=st.floats(0.3, 2.0), w=st.floats(-2.0, -0.3), stage=st.sampled_from(["step22", "step32"]))
def test_their_classes_and_this_engine_give_the_same_gradients(shell, expression, x, w, stage):
    shell.reset()
    with_stage(shell, stage)
    cell = f"x = Variable(np.array({x!r}))\nw = Variable(np.array({w!r}))\ny = x * w + {expression}\n"
    theirs = shell.run_cell_magic("grad", "--quiet -o theirs", cell) or shell.user_ns["theirs"]
    ours = shell.run_cell_magic("grad", "--engine ours --quiet -o ours", cell) or shell.user_ns["ours"]
    for name in ("x", "w"):
        np.testing.assert_allclose(theirs.grads[name], ours.grads[name], rtol=1e-12, atol=1e-12)
    assert all(check.verdict in "✓?" for check in theirs.own_check), [c.sentence() for c in theirs.own_check]
    assert float(theirs.values["y"]) == pytest.approx(float(ours.values["y"]), rel=1e-12, nan_ok=True)


def test_a_number_given_to_their_classes_is_explained(ip, grad):
    # x = 2.0 makes x an input of this engine; the book's step-22 Variable refuses anything but an ndarray
    with_stage(ip, "step22")
    with pytest.raises(UsageError, match=r"line 2: Variable\.__init__ \(a function of this notebook's\) was given "
                                         r"this engine's Variable.*x = Variable\(np\.array\(0\.5\)\).*--engine ours"):
        grad("x = 2.0\ny = square(x)\n")
