"""Differential tests of %%grad: every option combination over a corpus of cells, every number the
magic shows compared with an independent oracle (tests/oracle.py: the cell's own text interpreted
with sympy or numpy, never the engine or adiff_magic).

For each (cell, options) one test runs ``%%grad <options>`` in a fresh IPython namespace and checks:

* the target, the set of rows (every input binding and the last binding of every name; ``--wrt``
  drops the other inputs), each row's value, is_input and first-order gradient;
* ``--order N``: ``derivatives[input] == [d1 ... dN]`` for every scalar input (scalar targets only);
* ``--check``: ``numerical`` equals the oracle's own central differences, and ``check_passed`` is True
  for every input, except where a cell writes the verdict by hand (kinks; the reason is given);
* ``--graph``: each variable node named after a binding has that binding's value and first-order
  gradient, and a node named after a row has the table's gradient;
* the notebook: each name the cell leaves bound to a row is a Variable holding that row's value, and an
  input's ``.grad`` is the first-order gradient, whatever --order/--check/--wrt did.

Where sympy's reading cannot give the engine's documented answer (sympy's Heaviside(0) = 1/2 at a
relu kink, 0·log 0 at the edge of a**b's domain, DiracDelta(0) in a higher derivative), the cell
carries hand values with the derivation next to them.

Test ids read ``cellid-[--order 2 --check]``. Many fail on purpose while the bugs they describe are
open: never loosen an expected value to match the current output.
"""
from __future__ import annotations

import itertools
import math
import shlex
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pytest
from IPython.utils.capture import capture_output

import oracle

SYMPY_RTOL, SYMPY_ATOL = 1e-9, 1e-12  # exact oracle vs float64 engine
NUMPY_VALUE_RTOL, NUMPY_VALUE_ATOL = 1e-9, 1e-12
NUMPY_GRAD_RTOL, NUMPY_GRAD_ATOL = 1e-5, 1e-7  # central differences, eps 1e-6
ORDERS = (1, 2, 3, 4)


# ================================================================ the corpus


@dataclass
class Cell:
    id: str
    source: str
    wrt: Optional[str] = None  # an input row for --wrt (None: the cell has no unambiguous one)
    inter: Optional[str] = None  # an intermediate for --target (None: the cell has none)
    counts: tuple = ()  # integer names used as counts/indices/labels: not inputs
    mode: str = "sympy"  # "numpy" for cells with arrays
    orders: bool = True  # --order makes sense: the default target is a scalar
    inter_scalar: bool = True  # --order with --target inter makes sense
    extra: tuple = ()  # option lines beyond the matrix
    hand: dict = field(default_factory=dict)  # {"grads": {row: v}, "derivs": {row: [d1, ...]}}: overrides the oracle
    verdict: dict = field(default_factory=dict)  # {input: True/False/None}: expected check_passed (None: not asserted)
    known: dict = field(default_factory=dict)  # {"values"|"grads"|"derivs": {...}}: hand values the oracle must give


E05, S05, C05 = math.exp(0.5), math.sin(0.5), math.cos(0.5)

CELLS = [
    # ---------------------------------------------------------------- statement forms
    Cell("seed_chain", "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)", wrt="x", inter="b",
         known={"values": {"y": 1.648721270700128},
                "grads": {"x": 3.297442541400256, "a": 3.297442541400256, "b": 2.568050833375483}}),
    Cell("mul3", "x = 0.5\ny = 3 * x", wrt="x", known={"derivs": {"x": [3.0, 0.0, 0.0]}}),
    Cell("cube", "x = 2.0\ny = x * x * x", wrt="x", extra=("--order 5", "--order 5 --check", "--order 5 --graph"),
         known={"derivs": {"x": [12.0, 12.0, 6.0, 0.0, 0.0]}}),
    # y' = (sin x + cos x) e^x = 2.2373 at 0.5 (the graph's x.grad); y'' = 2 cos x e^x = 2.8937
    Cell("sin_exp", "x = 0.5\na = sin(x)\ny = a * exp(x)", wrt="x", inter="a",
         known={"grads": {"x": (S05 + C05) * E05}, "derivs": {"x": [(S05 + C05) * E05, 2 * C05 * E05]}}),
    # with --wrt x the notebook's w.grad must stay x·cos(x·w) = 0.5·cos 1 = 0.2702
    Cell("sin_xw", "x = 0.5\nw = 2.0\ny = sin(x * w)", wrt="x",
         known={"grads": {"w": 0.5 * math.cos(1.0), "x": 2.0 * math.cos(1.0)}}),
    Cell("aug_y", "x = 0.5\ny = square(x)\ny += 1", wrt="x", known={"values": {"y": 1.25}, "grads": {"x": 1.0}}),
    # x#1 is the input 0.5, x the intermediate 1.5 (no --wrt: the only input is x#1)
    Cell("aug_x", "x = 0.5\nx += 1\ny = x * x", inter="x",
         known={"values": {"x#1": 0.5, "x": 1.5}, "grads": {"x#1": 3.0, "x": 3.0}}),
    Cell("tuple_unpack", "a, b = 0.5, 2.0\ny = a * b", wrt="a", known={"grads": {"a": 2.0, "b": 0.5}}),
    Cell("tuple_from_call", "def split(t):\n    return t * 2.0, t * t\nx = 0.5\na, b = split(x)\ny = a + b * 3.0",
         wrt="x", inter="a", known={"grads": {"x": 5.0, "a": 1.0, "b": 3.0}}),
    Cell("annotated", "x: float = 0.5\ny = x * x", wrt="x", known={"grads": {"x": 1.0}}),
    Cell("walrus", "y = (x := 0.5) * 3", wrt="x", known={"values": {"y": 1.5}, "grads": {"x": 3.0}}),
    # chained: two independent inputs
    Cell("chained", "x = w = 0.5\ny = x * w + w", wrt="w", known={"grads": {"x": 0.5, "w": 1.5}}),
    Cell("for_count", "x = 0.5\nsteps = 4\ny = 1.0\nfor i in range(steps):\n    y = y * x", wrt="x",
         counts=("steps",), known={"values": {"y": 0.0625}, "grads": {"x": 0.5, "y#1": 0.0625}}),
    Cell("for_accumulate", "x = 0.5\nn = 3\ntotal = 0.0\nfor i in range(n):\n    total = total + x ** i",
         wrt="x", counts=("n",), known={"values": {"total": 1.75}, "grads": {"x": 2.0}}),
    Cell("horner", "x = 1.5\ncoeffs = [1.0, -2.0, 0.5]\ny = 0.0\nfor c in coeffs:\n    y = y * x + c", wrt="x",
         known={"grads": {"x": 1.0, "y#1": 3.375}}),
    Cell("while_value", "x = 0.5\ny = square(x)\nwhile y < 4.0:\n    y = y * 2.0 + x", wrt="x",
         known={"values": {"y": 5.5}, "grads": {"x": 15.0}}),
    # y = x·x^k for the first k with y < 0.3: 0.8⁶ = 0.262, so y = x⁶ and dy/dx = 6x⁵
    Cell("while_shrink", "x = 0.8\ny = x * 1.0\nwhile y > 0.3:\n    y = y * x", wrt="x",
         known={"values": {"y": 0.8 ** 6}, "grads": {"x": 6 * 0.8 ** 5}}),
    Cell("if_pos", "x = 0.5\nif x > 0:\n    y = x * 2\nelse:\n    y = -x", wrt="x", known={"grads": {"x": 2.0}}),
    Cell("if_neg", "x = -0.5\nif x > 0:\n    y = x * 2\nelse:\n    y = -x", wrt="x", known={"grads": {"x": -1.0}}),
    Cell("ternary_pos", "x = 0.5\ny = x * x if x > 0 else -x", wrt="x", known={"grads": {"x": 1.0}}),
    Cell("ternary_neg", "x = -2.0\ny = x * x if x > 0 else -3 * x", wrt="x", known={"grads": {"x": -3.0}}),
    Cell("user_def", "def f(t):\n    return t * t + sin(t)\nx = 0.5\ny = f(x)", wrt="x",
         known={"grads": {"x": 1.0 + C05}}),
    Cell("def_branch", "def leaky(t):\n    return t if t > 0 else 0.1 * t\nx = 0.5\nw = -2.0\ny = leaky(x) * leaky(w)",
         wrt="w", known={"grads": {"x": -0.2, "w": 0.05}}),
    Cell("def_closure", "w = 0.5\ndef f(t):\n    return w * t * t\nx = 2.0\ny = f(x) + f(w)", wrt="x",
         known={"grads": {"x": 2.0, "w": 4.75}}),
    Cell("rebind_y", "x = 0.5\ny = x * 2\ny = y * x\ny = y * x", wrt="x",
         known={"grads": {"x": 1.5}, "derivs": {"x": [1.5, 6.0, 12.0, 0.0]}}),
    Cell("rebind_input", "x = 0.5\nx = x * 3.0\ny = sin(x)", inter="x", known={"grads": {"x#1": 3 * math.cos(1.5)}}),
    Cell("int_input", "x = 2\ny = x / 4 + x * x", wrt="x", known={"grads": {"x": 4.25}}),
    # ---------------------------------------------------------------- function families and operators
    Cell("square", "x = 1.5\ny = square(x)", wrt="x", known={"derivs": {"x": [3.0, 2.0, 0.0]}}),
    Cell("exp_fn", "x = 0.7\na = exp(x)\ny = a * x", wrt="x", inter="a"),
    Cell("log_fn", "x = 1.7\ny = log(x) * x", wrt="x", known={"grads": {"x": math.log(1.7) + 1}}),
    Cell("sin_cos", "x = 0.3\ny = sin(x) * cos(x)", wrt="x", known={"grads": {"x": math.cos(0.6)}}),
    Cell("tan_fn", "x = 0.4\ny = tan(x)", wrt="x", known={"grads": {"x": 1 / math.cos(0.4) ** 2}}),
    Cell("tanh_fn", "x = 0.6\nh = tanh(x)\ny = h * h", wrt="x", inter="h"),
    Cell("sqrt_fn", "x = 2.0\nw = 1.5\ny = sqrt(x * x + w * w)", wrt="w",
         known={"values": {"y": 2.5}, "grads": {"x": 0.8, "w": 0.6}}),
    Cell("pow_fn", "x = 1.3\ny = pow(x, 3) + pow(x, -1) + pow(x, 0.5)", wrt="x",
         known={"grads": {"x": 3 * 1.3 ** 2 - 1.3 ** -2 + 0.5 * 1.3 ** -0.5}}),
    Cell("abs_neg", "x = -0.7\ny = abs(x) * x", wrt="x", known={"grads": {"x": 1.4}}),
    Cell("sigmoid_fn", "x = 0.25\ny = sigmoid(x)", wrt="x"),
    Cell("relu_pos", "x = 0.9\ny = relu(x) * x", wrt="x", known={"grads": {"x": 1.8}}),
    Cell("relu_neg", "x = -0.9\ny = relu(x) + x", wrt="x", known={"grads": {"x": 1.0}}),
    Cell("operators", "x = 1.5\nw = -0.5\ny = (x + w) * (x - w) / w ** 2 + -x", wrt="x",
         known={"grads": {"x": 2 * 1.5 / 0.25 - 1, "w": -2 * 1.5 ** 2 / (-0.5) ** 3}}),
    Cell("power_both", "x = 1.5\np = 2.5\ny = x ** p", wrt="p",
         known={"grads": {"x": 2.5 * 1.5 ** 1.5, "p": 1.5 ** 2.5 * math.log(1.5)}}),
    Cell("max_min", "x = 0.5\nw = 0.3\ny = max(x, w) * x + min(x, w)", wrt="w", known={"grads": {"x": 1.0, "w": 1.0}}),
    # a tie: the gradient is split 0.5/0.5 (sympy's Heaviside(0) = 1/2 says the same). Higher derivatives:
    # on either side of the tie y is linear in each input (y = x or y = w), so d2 = d3 = d4 = 0
    # (sympy gives DiracDelta(0)).
    Cell("max_tie", "x = w = 0.5\ny = max(x, w)", wrt="x", known={"grads": {"x": 0.5, "w": 0.5}},
         hand={"derivs": {"x": [0.5, 0.0, 0.0, 0.0], "w": [0.5, 0.0, 0.0, 0.0]}}),
    # y = 2·min(a, b), a tie: 2·0.5 each; linear on either side, so higher derivatives 0
    Cell("min_tie", "a = b = 1.5\ny = min(a, b) * 2.0", wrt="b", known={"grads": {"a": 1.0, "b": 1.0}},
         hand={"derivs": {"a": [1.0, 0.0, 0.0, 0.0], "b": [1.0, 0.0, 0.0, 0.0]}}),
    Cell("max_nested", "x = 0.2\nw = 0.4\nm = max(min(x, w), 0.1)\ny = m * w", wrt="x", inter="m",
         known={"grads": {"x": 0.4, "w": 0.2}}),
    Cell("max_neg", "x = -0.5\ny = max(x, 0)", wrt="x", known={"values": {"y": 0.0}, "grads": {"x": 0.0}}),
    Cell("sigmoid_nll", "z = -38.0\nloss = -log(sigmoid(z))", wrt="z", known={"values": {"loss": 38.0}, "grads": {"z": -1.0}}),
    Cell("sigmoid_nll2", "z = 1.5\ns = sigmoid(z)\nloss = -log(s)", wrt="z", inter="s",
         known={"grads": {"z": -1 / (1 + math.exp(1.5))}}),
    Cell("neg_sub", "x = 0.5\nw = 2.0\ny = -(x - w) * -w", wrt="w", known={"grads": {"x": 2.0, "w": 0.5 - 2 * 2.0}}),
    Cell("div_chain", "x = 3.0\nw = 0.5\ny = 1 / (x * w) - x / w", wrt="x",
         known={"grads": {"x": -1 / (9.0 * 0.5) - 2.0, "w": -1 / (3.0 * 0.25) + 3.0 / 0.25}}),
    Cell("gaussian", "x = 0.4\ny = exp(-x * x)", wrt="x", known={"grads": {"x": -0.8 * math.exp(-0.16)}}),
    Cell("sum_list", "x = 0.5\nw = 1.5\ny = sum([x, w, x * w])", wrt="x", known={"grads": {"x": 2.5, "w": 1.5}}),
    Cell("tanh_neuron", "x = 0.5\nw = -1.2\nb = 0.3\nh = tanh(w * x + b)\nloss = square(h - 1.0)", wrt="w", inter="h"),
    Cell("newton", "x = 2.0\nf = x * x - 2.0\ny = x - f / (2.0 * x)", wrt="x", inter="f",
         known={"values": {"y": 1.5}, "grads": {"x": 0.5 - 1 / 4.0}}),
    Cell("sin_loop", "x = 0.5\ny = x * 1.0\nfor i in range(5):\n    y = sin(y)", wrt="x"),
    # ---------------------------------------------------------------- polynomials, vanishing derivatives
    Cell("x_plus_1", "x = 0.5\ny = x + 1", wrt="x", known={"derivs": {"x": [1.0, 0.0, 0.0, 0.0]}}),
    Cell("poly4", "x = 2.0\ny = x ** 4 - 2 * x ** 2", wrt="x",
         known={"values": {"y": 8.0}, "derivs": {"x": [24.0, 44.0, 48.0, 24.0]}}),
    Cell("three_x_x", "x = 0.5\ny = 3 * x * x", wrt="x", known={"derivs": {"x": [3.0, 6.0, 0.0, 0.0]}}),
    Cell("pythagoras", "x = 0.7\ns = sin(x)\nc = cos(x)\ny = s * s + c * c", wrt="x", inter="s",
         known={"values": {"y": 1.0}, "grads": {"x": 0.0, "s": 2 * math.sin(0.7)},
                "derivs": {"x": [0.0, 0.0, 0.0, 0.0]}}),
    Cell("log_exp", "x = 0.3\ny = log(exp(x))", wrt="x", known={"derivs": {"x": [1.0, 0.0, 0.0, 0.0]}}),
    Cell("diamond", "x = 2.0\na = x ** 2\ny = a * a + a * a", wrt="x", inter="a",
         known={"grads": {"x": 64.0, "a": 16.0}}),
    # ---------------------------------------------------------------- edges of pow and **
    # y = x⁰ = 1 for every x, so every derivative is 0; sympy folds (0 + d)**0 to 1 and loses the
    # dependence, so the row's gradient (which the magic must show) is written here.
    Cell("pow0", "x = 0.0\ny = pow(x, 0)", wrt="x", known={"values": {"y": 1.0}},
         hand={"grads": {"x": 0.0}, "derivs": {"x": [0.0, 0.0, 0.0, 0.0]}}),
    # y = a**b at a = 0, b = 2. In a: y = a² near 0, so 0, 2, 0, 0. In b: y = 0**b = 0 for all b > 0,
    # so every b-derivative is 0 (sympy reads b·a^b/a and a^b·log a at a = 0 as nan).
    Cell("a0b2", "a = 0.0\nb = 2.0\ny = a ** b", wrt="b", known={"values": {"y": 0.0}},
         hand={"grads": {"a": 0.0, "b": 0.0},
               "derivs": {"a": [0.0, 2.0, 0.0, 0.0], "b": [0.0, 0.0, 0.0, 0.0]}}),
    # y = a**b at a = 0, b = 0.5: in b, 0**b = 0 for all b > 0, so dy/db = 0; in a, y = √a, whose
    # derivative 0.5·a^-0.5 is +inf at 0 (the one-sided limit). No --order: the higher a-derivatives
    # are infinite too. --check: the central difference for a reads the cell at a = -1e-6, where
    # (-1e-6)**0.5 is nan, and a nan is never a pass; for b both sides are 0, so b passes.
    Cell("a0b05", "a = 0.0\nb = 0.5\ny = a ** b", wrt="b", orders=False, known={"values": {"y": 0.0}},
         hand={"grads": {"a": math.inf, "b": 0.0}}, verdict={"a": False, "b": True}),
    Cell("x_pow1", "x = 0.0\ny = x ** 1", wrt="x", known={"derivs": {"x": [1.0, 0.0, 0.0, 0.0]}}),
    # ---------------------------------------------------------------- kinks (engine: relu'(0) = 0, abs'(0) = 0)
    # y = relu(x)·x = x² for x > 0, 0 for x < 0. Engine: y' = relu'(x)·x + relu(x) = 0 at 0 (sympy agrees);
    # y'' = 2·relu'(x) + relu''(x)·x = 0 with relu'(0) = 0 and relu'' = 0 (sympy: 2·Heaviside(0) = 1);
    # higher ones 0. --check: backprop 0 is the true derivative, the central difference is
    # (eps² - 0)/(2 eps) = 5e-7: relative error 1, but within the documented absolute floor
    # (|backprop - central| <= 1e-6·max(1, |target|) + 1e-5·|gradient| = 1e-6), so it passes.
    Cell("relu_x_x0", "x = 0.0\ny = relu(x) * x", wrt="x", hand={"derivs": {"x": [0.0, 0.0, 0.0, 0.0]}},
         verdict={"x": True}),
    # abs'(0) = 0 (sympy's sign(0) = 0 agrees); abs'' = 0 away from 0 and by the engine's rule at 0
    # (sympy: 2·DiracDelta(0)). --check: (|eps| - |-eps|)/(2 eps) = 0 = backprop: passes.
    Cell("abs0", "x = 0.0\ny = abs(x)", wrt="x", known={"grads": {"x": 0.0}},
         hand={"derivs": {"x": [0.0, 0.0, 0.0, 0.0]}}, verdict={"x": True}),
    # relu'(0) = 0 by the engine's convention (sympy: Heaviside(0) = 1/2); higher derivatives 0.
    # --check: central difference (eps - 0)/(2 eps) = 0.5 against backprop 0: a real disagreement, False.
    Cell("relu0", "x = 0.0\ny = relu(x)", wrt="x", hand={"grads": {"x": 0.0}, "derivs": {"x": [0.0, 0.0, 0.0, 0.0]}},
         verdict={"x": False}),
    # y = |x| + x² + x at 0: y' = 0 + 0 + 1 = 1; y'' = 0 + 2 = 2 (abs'' = 0 by the engine's rule; sympy
    # has DiracDelta(0)); then 0. --check: (eps + eps² + eps - (eps + eps² - eps))/(2 eps) = 1: passes.
    Cell("abs_sq0", "x = 0.0\ny = abs(x) + square(x) + x", wrt="x", known={"grads": {"x": 1.0}},
         hand={"derivs": {"x": [1.0, 2.0, 0.0, 0.0]}}, verdict={"x": True}),
    # ---------------------------------------------------------------- arrays (numpy interpretation)
    Cell("arr_sumsq", "x = np.array([0.5, -1.0, 2.0])\ns = square(x)\ny = sum(s)", wrt="x", inter="s",
         mode="numpy", inter_scalar=False),
    Cell("arr_softmax_ce", "z = np.array([[1.0, 2.0, 0.5], [0.3, -0.2, 1.1]])\nlabels = np.array([2, 0])\n"
         "lp = log_softmax(z)\nloss = -sum(lp[np.arange(2), labels])", wrt="z", inter="lp", counts=("labels",),
         mode="numpy", inter_scalar=False),
    Cell("arr_logistic", "X = np.array([[0.5, 1.0], [-1.5, 0.3], [2.0, -0.7]])\nt = np.array([1.0, 0.0, 1.0])\n"
         "w = np.array([0.1, -0.2])\nb = 0.3\np = sigmoid(matmul(X, w) + b)\n"
         "loss = -mean(t * log(p) + (1 - t) * log(1 - p))", wrt="w", inter="p", mode="numpy", inter_scalar=False),
    Cell("arr_mean", "x = np.array([1.0, 2.0, 4.0])\nc = 0.5\ny = mean(x * x) * c", wrt="c", mode="numpy",
         known={"values": {"y": 3.5}, "grads": {"c": 7.0}}),
    Cell("arr_matmul", "A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])\n"
         "B = np.array([[0.5, -1.0], [2.0, 0.25], [1.0, 1.0]])\nC = matmul(A, B)\ny = sum(C * C)",
         wrt="B", inter="C", mode="numpy", inter_scalar=False),
    Cell("arr_target", "x = np.array([0.5, 1.5])\na = exp(x)\ny = a * 2.0", wrt="x", inter="a", mode="numpy",
         orders=False, inter_scalar=False),
    Cell("arr_broadcast", "x = np.array([[1.0, 2.0], [3.0, 4.0]])\ns = 0.5\ny = sum(x * s + s)", wrt="s",
         mode="numpy", known={"grads": {"s": 14.0}}),
    Cell("arr_softmax", "z = np.array([0.2, -1.0, 1.5])\nv = np.array([1.0, 2.0, 3.0])\np = softmax(z)\n"
         "y = sum(p * v)", wrt="z", inter="p", mode="numpy", inter_scalar=False),
    Cell("arr_max_min", "x = np.array([0.5, 3.0, -1.0])\ny = max(x) + min(x) * 2.0", wrt="x", mode="numpy",
         known={"grads": {"x": [0.0, 1.0, 2.0]}}),
    Cell("arr_int_input", "x = np.array([1, 2, 3])\ny = sum(x * x) / 2.0", wrt="x", mode="numpy",
         known={"grads": {"x": [1.0, 2.0, 3.0]}}),
    Cell("arr_gd_loop", "w = np.array([0.5, -0.5])\nx = np.array([1.0, 2.0])\nsteps = 3\n"
         "for i in range(steps):\n    w = w - 0.1 * x * sum(w * x)\nloss = sum(w * w)", wrt="x",
         counts=("steps",), mode="numpy"),
]
CELL_BY_ID = {cell.id: cell for cell in CELLS}


def max_order(cell: Cell) -> int:
    orders = [int(o.split("--order ")[1].split()[0]) for o in cell.extra if "--order" in o]
    return max(ORDERS + tuple(orders))


def option_lines(cell: Cell) -> list:
    """No options, the singles, every sensible pair, and the cell's extras."""
    others = ["--check", "--graph"]
    if cell.wrt:
        others.append(f"--wrt {cell.wrt}")
    if cell.inter:
        others.append(f"--target {cell.inter}")
    orders = [f"--order {n}" for n in ORDERS]
    lines = [""]
    lines += orders if cell.orders else []
    lines += others
    for order in orders:
        for other in others:
            scalar = cell.inter_scalar if other.startswith("--target") else cell.orders
            if scalar:
                lines.append(f"{order} {other}")
    lines += [f"{a} {b}" for a, b in itertools.combinations(others, 2)]
    lines += list(cell.extra)
    return lines


CASES = [pytest.param(cell, line, id=f"{cell.id}-[{line}]") for cell in CELLS for line in option_lines(cell)]


# ================================================================ expectations: oracle plus hand values


def analysis(cell: Cell, target: Optional[str] = None) -> oracle.Analysis:
    return oracle.analyze(cell.source, cell.counts, target, cell.mode, max_order(cell))


def expected_grad(cell: Cell, an: oracle.Analysis, label: str) -> Optional[np.ndarray]:
    """d target / d label; None where the target does not depend on it (the magic may then omit it)."""
    if an.target == analysis(cell).target and label in cell.hand.get("grads", {}):
        return np.array(cell.hand["grads"][label], dtype=float)
    b = an.bindings[label]
    return b.grad if b.depends else None


def expected_derivs(cell: Cell, an: oracle.Analysis, label: str, order: int) -> list:
    if an.target == analysis(cell).target and label in cell.hand.get("derivs", {}):
        return list(cell.hand["derivs"][label][:order])
    return list(an.derivatives[label][:order])


def tolerances(cell: Cell, what: str) -> tuple:
    if cell.mode == "sympy" or what in ("value", "derivative"):
        return (SYMPY_RTOL, SYMPY_ATOL) if cell.mode == "sympy" else (NUMPY_VALUE_RTOL, NUMPY_VALUE_ATOL)
    return NUMPY_GRAD_RTOL, NUMPY_GRAD_ATOL


def plain(value: Any) -> Any:
    """An engine Variable's data, or the value as it is (None stays None)."""
    if value is None or isinstance(value, (np.ndarray, np.generic, float, int)):
        return value
    return getattr(value, "data", value)


def close(actual: Any, expected: Any, rtol: float, atol: float, nan_ok: bool = False) -> bool:
    actual, expected = np.asarray(plain(actual), dtype=float), np.asarray(expected, dtype=float)
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=nan_ok))


def parse_options(line: str) -> dict:
    tokens = shlex.split(line)
    options = {"order": 1, "explicit_order": False, "check": False, "graph": False, "wrt": None, "target": None}
    for i, token in enumerate(tokens):
        if token == "--order":
            options["order"], options["explicit_order"] = int(tokens[i + 1]), True
        elif token in ("--check", "--graph"):
            options[token[2:]] = True
        elif token == "--wrt":
            options["wrt"] = tuple(tokens[i + 1].split(","))
        elif token == "--target":
            options["target"] = tokens[i + 1]
    return options


# ================================================================ the interface: one accessor per changing shape


@dataclass
class GraphNode:
    key: Any
    kind: str
    text: str
    value: Any
    grad: Any


def graph_nodes(result: Any) -> list:
    """--graph's nodes, whether a (nodes, edges) tuple of (key, kind, text, value, grad) tuples or
    (after the issue-9 refactor) objects with those attributes."""
    graph = result.graph
    nodes = graph[0] if isinstance(graph, tuple) else graph.nodes
    out = []
    for node in nodes:
        if isinstance(node, tuple):
            out.append(GraphNode(*node))
        else:
            out.append(GraphNode(node.key, node.kind, node.text, node.value, node.grad))
    return out


def _clear(shell) -> None:
    for name in list(shell.user_ns):
        if name not in shell.user_ns_hidden and not (name.startswith("__") and name.endswith("__")):
            del shell.user_ns[name]


@pytest.fixture
def ip(shell):
    """conftest's shell with the user's names cleared before and after each case. (conftest's ``ip``
    calls shell.reset(), whose full garbage collection takes ~0.1 s with sympy loaded: twice per case
    over 2,000 cases is too slow.)"""
    _clear(shell)
    yield shell
    _clear(shell)


def run_magic(ip, line: str, source: str):
    with capture_output():
        return ip.run_cell_magic("grad", line, source)


# ================================================================ the oracle itself


def test_oracle_against_hand_values():
    """A broken oracle must not make everything look fine: its answers on cells worked by hand."""
    seed = oracle.analyze("x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)")
    assert seed.target == "y"
    assert [b.label for b in seed.rows] == ["x", "a", "b", "y"]
    assert [b.is_input for b in seed.rows] == [True, False, False, False]
    assert float(seed.bindings["y"].value) == pytest.approx(1.648721270700128, rel=1e-15)
    for label, grad in (("x", 3.297442541400256), ("a", 3.297442541400256), ("b", 2.568050833375483), ("y", 1.0)):
        assert float(seed.bindings[label].grad) == pytest.approx(grad, rel=1e-14), label
    diamond = oracle.analyze("x = 2.0\na = x ** 2\ny = a * a + a * a")
    assert float(diamond.bindings["x"].grad) == 64.0
    assert float(diamond.bindings["a"].grad) == 16.0
    poly = oracle.analyze("x = 2.0\ny = x ** 4 - 2 * x ** 2")
    assert float(poly.bindings["x"].grad) == 24.0
    assert poly.derivatives["x"][:2] == [24.0, 44.0]
    # the rows and the naming of rebinding, tuple, chained, walrus and augmented forms
    loop = oracle.analyze("x = 0.5\nsteps = 4\ny = 1.0\nfor i in range(steps):\n    y = y * x", ("steps",))
    assert [b.label for b in loop.rows] == ["x", "y#1", "y"]
    assert [b.label for b in loop.bindings.values()] == ["x", "y#1", "y#2", "y#3", "y#4", "y"]
    assert [b.label for b in oracle.analyze("x = w = 0.5\ny = x * w").rows] == ["x", "w", "y"]
    assert [b.label for b in oracle.analyze("y = (x := 0.5) * 3").rows] == ["x", "y"]
    aug = oracle.analyze("x = 0.5\nx += 1\ny = x * x")
    assert [(b.label, b.is_input) for b in aug.rows] == [("x#1", True), ("x", False), ("y", False)]
    # --target: an intermediate, and a binding after it that the target does not depend on
    inter = oracle.analyze("x = 0.5\na = sin(x)\ny = a * exp(x)", target="a")
    assert inter.target == "a" and float(inter.bindings["x"].grad) == pytest.approx(C05, rel=1e-15)
    assert not inter.bindings["y"].depends
    # an integer count is no binding; a number computed from plain numbers is an input
    assert [b.label for b in oracle.analyze("n = 3\nc = exp(1.0)\nx = 0.5\ny = x * c * n", ("n",)).rows] == ["c", "x", "y"]
    assert oracle.analyze("n = 3\nc = exp(1.0)\nx = 0.5\ny = x * c * n", ("n",)).bindings["c"].is_input


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_oracle_reproduces_known_values(cell):
    """The hand-known numbers of each cell (from the issue, or worked out) against the oracle."""
    an = analysis(cell)
    for label, value in cell.known.get("values", {}).items():
        assert close(an.bindings[label].value, value, 1e-12, 1e-12), (label, an.bindings[label].value, value)
    for label, grad in cell.known.get("grads", {}).items():
        assert close(expected_grad(cell, an, label), grad, 1e-9, 1e-12), (label, expected_grad(cell, an, label), grad)
    for label, derivs in cell.known.get("derivs", {}).items():
        got = expected_derivs(cell, an, label, len(derivs))
        assert close(got, derivs, 1e-9, 1e-12), (label, got, derivs)


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_oracle_is_consistent(cell):
    """The oracle decides every number the tests use (or the cell gives it by hand), its two
    interpretations agree, and the corpus entry names a real input and intermediate."""
    an = analysis(cell)
    inputs = [b.label for b in an.rows if b.is_input]
    assert inputs, "a cell needs an input"
    if cell.wrt:
        assert cell.wrt in inputs, (cell.wrt, inputs)
    if cell.inter:
        assert cell.inter in an.bindings and not an.bindings[cell.inter].is_input and cell.inter != an.target
        assert analysis(cell, cell.inter).target_is_scalar == cell.inter_scalar
    if not an.target_is_scalar:
        assert not cell.orders, "--order needs a scalar target"
    for target in (None, cell.inter) if cell.inter else (None,):
        a = analysis(cell, target)
        for b in a.bindings.values():
            assert np.all(np.isfinite(b.value)), b.label
            grad = expected_grad(cell, a, b.label)
            if grad is not None and not (target is None and b.label in cell.hand.get("grads", {})):
                assert np.all(np.isfinite(grad)), f"the oracle cannot decide d{a.target}/d{b.label}: give it by hand"
                # sympy against central differences of the numpy reading (kinks aside: 5e-7 at most)
                assert close(b.numerical, b.exact, 1e-5, 1e-6), (b.label, b.numerical, b.exact)
        if a.target_is_scalar and (cell.orders or target):
            for label in a.derivatives:
                derivs = expected_derivs(cell, a, label, max_order(cell))
                assert len(derivs) == max_order(cell) and np.all(np.isfinite(derivs)), \
                    f"the oracle cannot decide the derivatives of {a.target} in {label}: {derivs}; give them by hand"


def test_corpus_size():
    assert len(CELLS) >= 60
    assert len({cell.id for cell in CELLS}) == len(CELLS)
    assert len(CASES) == len({p.id for p in CASES})


# ================================================================ the magic against the oracle


@pytest.mark.parametrize("cell,line", CASES)
def test_grad_matches_oracle(ip, cell, line):
    opts = parse_options(line)
    an = analysis(cell, opts["target"])
    r = run_magic(ip, line, cell.source)
    problems = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    value_tol, grad_tol, deriv_tol = tolerances(cell, "value"), tolerances(cell, "grad"), tolerances(cell, "derivative")
    expect(r.target == an.target, f"target {r.target!r}, expected {an.target!r}")

    # ---- rows: the inputs (only --wrt's), and the last binding of every name
    wrt = opts["wrt"]
    rows = [b for b in an.rows if not b.is_input or wrt is None or b.label in wrt]
    inputs = [b for b in rows if b.is_input]
    shown = {row.name: row for row in r.rows}
    expect(set(shown) == {b.label for b in rows}, f"rows {sorted(shown)}, expected {sorted(b.label for b in rows)}")
    expect(set(r.values) == set(shown), f"values keys {sorted(r.values)} != rows {sorted(shown)}")
    expect(set(r.grads) <= set(shown), f"grads for names that are no rows: {sorted(set(r.grads) - set(shown))}")
    for b in rows:
        if b.label not in shown:
            continue
        row = shown[b.label]
        expect(bool(row.is_input) == b.is_input, f"{b.label}: is_input {row.is_input}, expected {b.is_input}")
        for what, got in (("row.value", row.value), ("values", r.values.get(b.label))):
            expect(close(got, b.value, *value_tol), f"{b.label}: {what} {got}, expected {b.value}")
        grad = expected_grad(cell, an, b.label)
        got = r.grads.get(b.label)
        if grad is None:  # the target does not depend on it: no gradient, or 0
            expect(got is None or close(got, np.zeros_like(b.value), 0, 0),
                   f"{b.label}: grad {got}, but {an.target} does not depend on it")
        else:
            expect(got is not None and close(got, grad, *grad_tol), f"{b.label}: grad {got}, expected {grad}")
            expect(row.grad is not None and close(row.grad, grad, *grad_tol), f"{b.label}: row.grad {row.grad}, expected {grad}")

    # ---- --order N: [d1 .. dN] per scalar input (an explicit --order 1 may leave derivatives empty)
    if opts["order"] > 1 or (opts["explicit_order"] and r.derivatives):
        n = opts["order"]
        scalar_inputs = [b for b in inputs if b.value.ndim == 0]
        expect(set(r.derivatives) == {b.label for b in scalar_inputs},
               f"derivatives for {sorted(r.derivatives)}, expected {sorted(b.label for b in scalar_inputs)}")
        for b in scalar_inputs:
            if b.label not in r.derivatives:
                continue
            want, got = expected_derivs(cell, an, b.label, n), list(r.derivatives[b.label])
            expect(len(got) == n and close(got, want, *deriv_tol), f"{b.label}: derivatives {got}, expected {want}")
            if got and b.label in r.grads:
                expect(close(got[0], r.grads[b.label], 1e-12, 0), f"{b.label}: d1 {got[0]} != grads {r.grads[b.label]}")

    # ---- --check: central differences and the verdict per input
    if opts["check"]:
        passed = getattr(r, "check_passed", None)
        expect(passed is not None, "GradResult has no check_passed")
        for what, mapping in (("check", r.check), ("numerical", r.numerical), ("check_passed", passed or {})):
            expect(set(mapping) == {b.label for b in inputs},
                   f"{what} keys {sorted(mapping)}, expected {sorted(b.label for b in inputs)}")
        for b in inputs:
            if b.label in r.numerical:
                expect(close(r.numerical[b.label], b.numerical, NUMPY_GRAD_RTOL, NUMPY_GRAD_ATOL, nan_ok=True),
                       f"{b.label}: numerical {r.numerical[b.label]}, expected {b.numerical}")
            verdict = cell.verdict.get(b.label, True)
            if passed and b.label in passed and verdict is not None:
                got = passed[b.label]
                expect(isinstance(got, (bool, np.bool_)) and bool(got) is verdict,
                       f"{b.label}: check_passed {got!r}, expected {verdict} (relative error {r.check.get(b.label)})")

    # ---- --graph: node values and gradients against the oracle and the table
    if opts["graph"]:
        nodes = [n for n in graph_nodes(r) if n.kind == "variable"]
        expect(any(n.text == an.target for n in nodes), f"the graph has no node for the target {an.target}")
        for n in nodes:
            if n.text in an.bindings:
                b = an.bindings[n.text]
                expect(close(n.value, b.value, *value_tol), f"graph node {n.text}: value {n.value}, expected {b.value}")
                grad = expected_grad(cell, an, n.text)
                if grad is not None:
                    expect(n.grad is not None and close(n.grad, grad, *grad_tol),
                           f"graph node {n.text}: grad {plain(n.grad)}, expected {grad}")
            if n.text in r.grads:
                expect(n.grad is not None and close(n.grad, r.grads[n.text], 1e-12, 0),
                       f"graph node {n.text}: grad {plain(n.grad)}, table {r.grads[n.text]}")

    # ---- the notebook: Variables with the rows' values; inputs hold the first-order gradient
    for b in an.rows:
        if b.label != b.name:  # an earlier binding: the notebook holds the last one
            continue
        v = ip.user_ns.get(b.name)
        if not (hasattr(v, "data") and hasattr(v, "grad")):
            problems.append(f"notebook {b.name}: {type(v).__name__}, expected a Variable")
            continue
        expect(close(v.data, b.value, *value_tol), f"notebook {b.name}.data {v.data}, expected {b.value}")
        grad = expected_grad(cell, an, b.label)
        if v.grad is not None and not isinstance(v.grad, (np.ndarray, np.generic)):
            problems.append(f"notebook {b.name}.grad is a {type(v.grad).__name__}, expected the first-order array")
        elif grad is None:
            expect(v.grad is None or close(v.grad, np.zeros_like(b.value), 0, 0),
                   f"notebook {b.name}.grad {v.grad}, but {an.target} does not depend on it")
        elif b.is_input or v.grad is not None:
            expect(v.grad is not None and close(v.grad, grad, *grad_tol),
                   f"notebook {b.name}.grad {plain(v.grad)}, expected the first-order {grad}")

    # ---- the --step view of the same cell under the same options: the same numbers as the static views
    view = run_magic(ip, f"{line} --step -o {STEPPED}", cell.source)
    model = view._model
    final = step_grads(model, len(model.steps))
    for label, got in r.grads.items():
        if label in final and final[label] and np.ndim(got) == 0:
            expect(close(float(final[label]), float(got), 1e-5, 1e-9),
                   f"--step view: {label} ends on {final[label]}, the table has {float(got)}")
    expect(ip.user_ns[STEPPED].grads.keys() == r.grads.keys(), "--step: the stored result's gradients differ")

    assert not problems, "\n".join(problems)


STEPPED = "_stepped_result"  # where the --step run of a case keeps its GradResult


# ================================================================ the --step view over the whole corpus (issue 11)


def step_grads(model, k: int) -> dict:
    """Variable name -> the gradient the --step view shows after k steps (of '16 → 32': the 32)."""
    import re

    names = dict(re.findall(r'data-key="(\w+)" data-kind="variable">.*?<text[^>]*>([^<]*)</text>', model.svg))
    return {names[key]: text.split("→")[-1].strip() for key, text in model.at(k)["grads"].items() if key in names}


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_step_view_ends_on_the_oracles_gradients_and_follows_a_slider(cell):
    """After the last step the view shows each scalar input's gradient as the oracle has it; with every
    scalar input moved by 0.1 it shows the central differences of the recorded graph at the new point."""
    from adiff_magic.parser import parse
    from adiff_magic.runner import run_recorded
    from adiff_magic.stepper import step_model
    from engine import Replay

    an = analysis(cell)
    namespace = {"np": np}
    rec = run_recorded(parse(cell.source), namespace)[2]
    model = step_model(rec)
    shown = step_grads(model, len(model.steps))
    for b in an.rows:
        grad = expected_grad(cell, an, b.label)
        if not b.is_input or b.value.ndim or grad is None or b.label not in shown:
            continue
        assert close(float(shown[b.label]), float(grad), 1e-5, 1e-9), (b.label, shown[b.label], grad)
    scalars = [(name, v) for name, v in rec.inputs if np.ndim(v.data) == 0]
    if not scalars or np.ndim(rec.target.data):
        return
    moved = {name: float(v.data) + 0.1 for name, v in scalars}
    shown = step_grads(step_model(rec, moved), 10**9)
    replay, eps = Replay(rec.target), 1e-6
    at = {v: np.array(moved[name]) for name, v in scalars}
    for name, v in scalars:
        if name not in shown or not shown[name]:
            continue
        up = replay({**at, v: np.array(moved[name] + eps)})
        down = replay({**at, v: np.array(moved[name] - eps)})
        central = float(np.sum(up) - np.sum(down)) / (2 * eps)
        if not math.isfinite(central):
            continue
        assert close(float(shown[name]), central, 1e-4, 1e-6), (name, shown[name], central)
