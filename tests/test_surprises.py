"""Notes that explain surprising gradients (adiff_magic/surprises.py, issue 19): a backward() the cell ran
more than once, a function at its kink, a gradient that vanished or exploded; and a learner's Function
instance called twice, refused with the reason. Expected numbers are derived by hand beside each test."""
from __future__ import annotations

import math

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from adiff_magic.parser import parse
from adiff_magic.runner import run
from adiff_magic.surprises import accumulated_note
from book_classes import STEP_16, STEP_7

DX = 2 * math.exp(0.5)  # y = e^(2x²) at 0.5: dy/dx = 4x·e^(2x²)


def notes_of(cell: str, namespace: dict | None = None) -> tuple:
    result, scope = run(parse(cell), namespace or {"np": np})
    return result.explanations, scope


def test_backward_twice_without_cleargrad_is_explained_with_its_numbers():
    notes, scope = notes_of("x = 0.5\ny = square(exp(square(x)))\ny.backward()\ny.backward()")
    (note,) = [n for n in notes if ".grad was" in n]
    assert note.startswith(f"x.grad was {2 * DX:.6g}, one clean backward gives {DX:.6g}: the cell ran backward() 2 "
                           "times without cleargrad() in between, and .grad adds up (the book's step 14). The table "
                           "shows one clean backward pass from y")
    assert float(scope["x"].grad) == pytest.approx(DX, rel=1e-15)  # the names hold the clean pass


@pytest.mark.parametrize("cell", ["x = 0.5\ny = square(exp(square(x)))\ny.backward()",
                                  "x = 0.5\ny = square(exp(square(x)))\ny.backward()\nx.cleargrad()\ny.backward()",
                                  "x = 0.5\ny = square(exp(square(x)))"])
def test_one_clean_backward_needs_no_note(cell):
    notes, _ = notes_of(cell)
    assert not [n for n in notes if ".grad was" in n]


def test_a_backward_from_another_variable_is_said_without_a_count():
    """z = 3y: z.backward() leaves x.grad = 3·dy/dx, and the target is y."""
    notes, _ = notes_of("x = 0.5\ny = square(x)\nz = y * 3.0\nz.backward()\nw = y + 0.0")
    (note,) = [n for n in notes if ".grad was" in n]
    assert note.startswith("x.grad was 3, one clean backward gives 1")  # z = 3x², w = x²: 6x and 2x at ½
    assert "from another variable than the target w left these" in note and "times" not in note


def test_the_learners_own_classes_accumulate_too(ip):
    """The book's step 16 classes add to .grad, and keep the intermediate ones: the second y.backward() passes
    b's doubled gradient on to a (3 times), and a's to x: 1 + 3 = 4 times dy/dx."""
    ip.run_cell(STEP_16)
    with capture_output():
        result = ip.run_cell_magic("grad", "--no-trace", "x = Variable(np.array(0.5))\ny = square(exp(square(x)))\n"
                                   "y.backward()\ny.backward()")
    (note,) = [n for n in result.explanations if ".grad was" in n]
    assert f"x.grad was {4 * DX:.6g}, one clean backward gives {DX:.6g}" in note
    assert "the cell ran backward() 2 times without cleargrad()" in note and "passed on again" in note


def test_accumulated_note_by_hand():
    assert accumulated_note([], "y") == []
    (note,) = accumulated_note([("x", np.array(9.0), np.array(3.0)), ("w", np.array(-6.0), np.array(-2.0))], "y", 3)
    assert note.startswith("x.grad was 9, one clean backward gives 3; w.grad was -6, one clean backward gives -2: "
                           "the cell ran backward() 3 times") and "passed on again" not in note
    (mixed,) = accumulated_note([("x", np.array(9.0), np.array(3.0)), ("w", np.array(-5.0), np.array(-2.0))], "y", 3)
    assert "passed on again" in mixed
    (none,) = accumulated_note([("x", np.array(9.0), np.array(3.0))], "y", 0)
    assert "came with gradients of their own" in none


@pytest.mark.parametrize("cell, where, convention", [
    ("x = 0.0\ny = relu(x) * 2.0", "relu(x) (line 2)", "relu′(0) = 0"),
    ("x = 0.0\ny = abs(x) + x", "abs(x) (line 2)", "abs′(0) = sign(0) = 0"),
    ("x = 1.0\nw = 1.0\ny = max(x, w)", "y (line 3)", "at a tie each operand gets half the gradient"),
    ("x = 1.0\ny = clip(x, 0.0, 1.0)", "y (line 2)", "at a bound the gradient is passed whole"),
    ("x = np.array([1.0, 3.0, 3.0])\ny = max(x)", "y (line 2)", "the tied maxima share the gradient equally"),
])
def test_a_kink_is_said_with_the_engines_convention(cell, where, convention):
    notes, _ = notes_of(cell)
    (note,) = [n for n in notes if "kink" in n]
    assert note.startswith(f"{where} is evaluated at its kink") and convention in note


def test_an_arrays_kink_counts_its_elements_and_no_kink_no_note():
    notes, _ = notes_of("x = np.array([-1.0, 0.0, 2.0, 0.0])\ny = sum(relu(x))")
    assert any("at 2 of its 4 elements" in n for n in notes)
    for cell in ("x = 0.5\ny = relu(x)", "x = 1.0\nw = 2.0\ny = max(x, w)", "x = np.array([1.0, 3.0])\ny = max(x)"):
        assert not [n for n in notes_of(cell)[0] if "kink" in n], cell


def test_a_vanishing_gradient_names_the_step():
    """σ′ at −40 is e^−40/(1 + e^−40)² ≈ 4.25e−18: the step Sigmoid.backward passes it on from 1."""
    notes, _ = notes_of("x = -40.0\ny = sigmoid(x)")
    (note,) = [n for n in notes if "vanished" in n]
    small = f"{math.exp(-40) / (1 + math.exp(-40)) ** 2:.3g}"
    assert note == (f"dy/dx is {small}: the gradient vanished on its way; it first passed 1e-08 at step 1, "
                    f"Sigmoid.backward (line 2), where 1 came in and dy/dx = {small} went on")


def test_an_exploding_gradient_names_the_step_where_it_crossed():
    """y = (x⁵)⁴ at x = 10: dy/da = 4a³ = 4·10^15 at the first step, from the 1 that came in; dy/dx = 20x¹⁹ = 2e20."""
    notes, _ = notes_of("x = 10.0\na = x ** 5\ny = a ** 4")
    (note,) = [n for n in notes if "exploded" in n]
    assert note == ("dy/dx is 2e+20: the gradient exploded on its way; it first passed 1e+08 at step 1, Pow.backward "
                    "(line 3), where 1 came in and dy/da = 4e+15 went on")


def test_a_small_term_of_a_series_is_not_a_vanished_gradient():
    """sin's Taylor series: the fifth term's gradient is x¹⁰/10! ≈ 3e−10, but dy/dx ≈ cos 0.5 is not small."""
    cell = "x = 0.5\ny = x\nterm = x\nfor k in range(1, 6):\n    term = -term * x**2 / ((2*k) * (2*k + 1))\n    y = y + term"
    assert not [n for n in notes_of(cell)[0] if "vanished" in n or "exploded" in n]
    assert not [n for n in notes_of("x = 0.5\ny = sin(x) * 1e-3")[0] if "vanished" in n or "exploded" in n]


def test_a_gradient_that_vanishes_twice_is_said_once():
    notes, _ = notes_of("x = -40.0\ny = sigmoid(x) + sigmoid(x - 1.0)")
    assert len([n for n in notes if "vanished" in n]) == 1


def test_a_learners_function_instance_called_twice_is_refused_with_the_reason(ip):
    ip.run_cell(STEP_7)
    with pytest.raises(UsageError) as raised, capture_output():
        ip.run_cell_magic("grad", "", "A = Square()\nx = Variable(np.array(0.5))\na = A(x)\ny = A(a)\n"
                          "y.grad = np.array(1.0)\ny.backward()")
    message = str(raised.value)
    assert message.startswith("line 4: the Function instance 'A' was already called on line 3: a DeZero Function "
                              "remembers one call (self.input, self.output)")
    assert "RecursionError" in message and "create a new one per call: Square()(a)" in message
    assert "y" not in ip.user_ns or not hasattr(ip.user_ns.get("y"), "creator")  # the notebook is unchanged
