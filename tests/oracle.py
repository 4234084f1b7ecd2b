"""An independent oracle for the %%grad differential tests (tests/test_differential.py).

It imports nothing from engine/ or adiff_magic/: it reads the cell's own Python text, rewrites its
syntax tree and runs it with plain ``exec`` under one of two interpretations.

* **sympy** (scalar cells): every binding of a name to a number (``x = ...``, ``a, b = ...``,
  ``x: float = ...``, ``y += ...``, ``(x := ...)``, each target of ``x = w = ...``) becomes
  ``value + d_<name>_<k>``, with a fresh real sympy Symbol for the k-th binding of that name. The
  target's expression then holds every perturbation symbol, and d(target)/d(binding) is
  ``diff(target, d_<name>_<k>)`` at all d = 0; the n-th derivative with respect to an input is the
  n-th derivative in its symbol, at 0. Comparisons are evaluated numerically at d = 0, so ``if``,
  ``while`` and ternaries branch on values. A number a cell computes from plain numbers only (no
  perturbation in it) is a fresh input, as for the magic: the functions below return plain floats
  for plain numbers and sympy expressions only when given one.
* **numpy** (array cells): the same rewrite, but the perturbation is a numpy array added to one
  chosen binding, and gradients are central differences (eps 1e-6) element by element. Which
  bindings are inputs, and whether the target depends on a binding at all, comes from a sympy run of
  the same cell in which each element of an array binding gets its own symbol (numpy object arrays);
  that run also gives the exact higher derivatives for scalar inputs, and exact gradients that the
  tests use to cross-check the central differences.

Names left alone (not inputs, never perturbed): those listed in ``counts`` (integers used as counts,
indices, labels), loop variables (``for i in ...``), and anything bound inside a ``def``, lambda or
comprehension, or bound to something that is not a number or a numeric array.

``hessian`` gives, for a scalar target, the exact matrix of second derivatives over the cell's scalar
inputs, mixed partials included: ``diff(target, d_a, d_b)`` at all d = 0 for every pair of input symbols.

Row naming follows the magic's: the last binding of a name is ``y``, earlier ones ``y#1``, ``y#2``
...; the rows are every input binding and the last binding of every name.
"""
from __future__ import annotations

import ast
import builtins
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import sympy

from reference import NP

EPS = 1e-6  # central differences, as the magic's --check
BIND = "__oracle_bind__"
AT0 = "__oracle_at0__"
TMP = "__oracle_tmp_"


class OracleError(Exception):
    """The oracle cannot interpret this cell."""


# ================================================================ the rewrite


def _target_names(target: ast.AST) -> list:
    """Plain names a target binds, in the order Python assigns them."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []  # attributes and subscripts bind no name


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(function, ast.Load()), args=list(args), keywords=[])


def _bind(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(name, ast.Store())], value=_call(BIND, ast.Constant(name), value))


class _Rewriter(ast.NodeTransformer):
    """Bindings at the cell's top level (also inside if/for/while) go through BIND; every comparison
    operand goes through AT0."""

    def __init__(self) -> None:
        self.local_depth = 0  # > 0 inside a def, lambda or comprehension: its names are its own
        self.temporaries = 0

    def _local_scope(self, node: ast.AST) -> ast.AST:
        self.local_depth += 1
        self.generic_visit(node)
        self.local_depth -= 1
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _local_scope
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _local_scope

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        node.left = _call(AT0, node.left)
        node.comparators = [_call(AT0, c) for c in node.comparators]
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        self.generic_visit(node)
        if self.local_depth:
            return node
        names = [_target_names(t) for t in node.targets]
        if not any(names):
            return node
        temporary = f"{TMP}{self.temporaries}"
        self.temporaries += 1
        out = [ast.Assign(targets=[ast.Name(temporary, ast.Store())], value=node.value)]
        for target, bound in zip(node.targets, names):  # Python assigns the targets left to right
            out.append(ast.Assign(targets=[target], value=ast.Name(temporary, ast.Load())))
            out.extend(_bind(name, ast.Name(name, ast.Load())) for name in bound)
        return out

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        self.generic_visit(node)
        if self.local_depth or node.value is None or not isinstance(node.target, ast.Name):
            return node
        return _bind(node.target.id, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        if self.local_depth or not isinstance(node.target, ast.Name):
            return node
        name = node.target.id
        # y += v is a new binding of y to y + v (a Variable has no in-place operators)
        return _bind(name, ast.BinOp(ast.Name(name, ast.Load()), node.op, node.value))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.AST:
        self.generic_visit(node)
        if self.local_depth:
            return node
        node.value = _call(BIND, ast.Constant(node.target.id), node.value)
        return node


@functools.lru_cache(maxsize=None)
def _compiled(source: str):
    tree = _Rewriter().visit(ast.parse(source))
    return compile(ast.fix_missing_locations(tree), "<oracle cell>", "exec")


# ================================================================ values


def _is_symbolic(v: Any) -> bool:
    return isinstance(v, sympy.Basic) or (isinstance(v, np.ndarray) and v.dtype == object)


def _is_numeric(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.integer, np.floating, sympy.Expr)):
        return True
    return isinstance(v, np.ndarray) and (v.dtype.kind in "iuf" or v.dtype == object)


def _number(e: Any) -> float:
    """A sympy expression with no symbols left as a float: nan if sympy cannot say (0/0, a
    DiracDelta(0), a complex number), +-inf for +-oo."""
    if not isinstance(e, sympy.Basic):
        return float(e)
    if e is sympy.nan or e is sympy.zoo or e.has(sympy.zoo, sympy.nan):
        return math.nan
    if e == sympy.oo:
        return math.inf
    if e == -sympy.oo:
        return -math.inf
    try:
        c = complex(sympy.N(e, 30))
    except (TypeError, ValueError):
        return math.nan
    if abs(c.imag) > 1e-12 * builtins.max(1.0, abs(c.real)):
        return math.nan
    return c.real


def _at_zero(e: Any) -> Any:
    """e with every perturbation symbol set to 0, as a float (or a float array)."""
    if isinstance(e, sympy.Basic):
        symbols = e.free_symbols
        return _number(e.xreplace({s: sympy.Integer(0) for s in symbols}) if symbols else e)
    if isinstance(e, np.ndarray) and e.dtype == object:
        return np.vectorize(_at_zero, otypes=[float])(e) if e.size else np.zeros(e.shape)
    return e


# ================================================================ the two namespaces


def _sympy_namespace() -> dict:
    """The engine's function names with sympy meanings for sympy values, numpy's for plain numbers."""

    def unary(symbolic, numeric):
        vectorized = np.vectorize(symbolic, otypes=[object])

        def f(x):
            if isinstance(x, sympy.Basic):
                return symbolic(x)
            if isinstance(x, np.ndarray) and x.dtype == object:
                return vectorized(x)
            return numeric(x)

        return f

    def extreme(symbolic, numeric_pair, numeric_reduce):
        pair = np.frompyfunc(symbolic, 2, 1)

        def f(*args, axis=None, keepdims=False):
            if len(args) >= 2:  # Python's max(a, b): elementwise
                if not builtins.any(_is_symbolic(a) for a in args):
                    return functools.reduce(numeric_pair, args)
                if builtins.any(isinstance(a, np.ndarray) for a in args):
                    return functools.reduce(pair, args)
                return symbolic(*args)
            x, = args
            if isinstance(x, np.ndarray) and x.dtype == object:  # a reduction
                return pair.reduce(x, axis=axis, keepdims=keepdims) if axis is not None or keepdims \
                    else symbolic(*x.ravel())
            return x if isinstance(x, sympy.Basic) else numeric_reduce(x, axis=axis, keepdims=keepdims)

        return f

    exp = unary(sympy.exp, np.exp)
    log = unary(sympy.log, np.log)

    def sum_(x, axis=None, keepdims=False):
        if isinstance(x, np.ndarray):
            return np.sum(x, axis=axis, keepdims=keepdims)
        if isinstance(x, (sympy.Basic, float, int, np.generic)):
            return x
        return builtins.sum(x)  # an iterable: Python's sum

    def mean(x, axis=None, keepdims=False):
        x = np.asarray(x) if not isinstance(x, sympy.Basic) else x
        if isinstance(x, sympy.Basic) or x.ndim == 0:
            return x
        count = x.size if axis is None else x.shape[axis]
        return np.sum(x, axis=axis, keepdims=keepdims) / count

    def softmax(x, axis=-1):
        if not _is_symbolic(x):
            return NP.softmax(x, axis)
        e = exp(x)
        return e / np.sum(e, axis=axis, keepdims=True)

    def log_softmax(x, axis=-1):
        if not _is_symbolic(x):
            return NP.log_softmax(x, axis)
        return x - log(np.sum(exp(x), axis=axis, keepdims=True))

    return {
        "square": unary(lambda t: t ** 2, np.square),
        "exp": exp, "log": log,
        "sin": unary(sympy.sin, np.sin), "cos": unary(sympy.cos, np.cos), "tan": unary(sympy.tan, np.tan),
        "tanh": unary(sympy.tanh, np.tanh), "sqrt": unary(sympy.sqrt, np.sqrt),
        "abs": unary(sympy.Abs, np.abs),
        "sigmoid": unary(lambda t: 1 / (1 + sympy.exp(-t)), NP.sigmoid),
        "relu": unary(lambda t: sympy.Max(t, 0), NP.relu),
        "pow": lambda x, c: x ** c,
        "max": extreme(sympy.Max, np.maximum, np.max),
        "min": extreme(sympy.Min, np.minimum, np.min),
        "sum": sum_, "mean": mean, "matmul": np.matmul, "softmax": softmax, "log_softmax": log_softmax,
        "np": np,
    }


def _numpy_namespace() -> dict:
    """The engine's function names with plain numpy meanings (tests/reference.py's NP)."""

    def extreme(pair, reduce):
        def f(*args, axis=None, keepdims=False):
            if len(args) >= 2:
                return functools.reduce(pair, args)
            return reduce(args[0], axis=axis, keepdims=keepdims)

        return f

    def sum_(x, axis=None, keepdims=False):
        if isinstance(x, (np.ndarray, np.generic, float, int)):
            return np.sum(x, axis=axis, keepdims=keepdims)
        return builtins.sum(x)

    return {
        "square": NP.square, "exp": NP.exp, "log": NP.log, "sin": NP.sin, "cos": NP.cos, "tan": NP.tan,
        "tanh": NP.tanh, "sqrt": NP.sqrt, "abs": NP.abs, "sigmoid": NP.sigmoid, "relu": NP.relu,
        "pow": lambda x, c: x ** c,
        "max": extreme(np.maximum, np.max), "min": extreme(np.minimum, np.min),
        "sum": sum_, "mean": NP.mean, "matmul": NP.matmul, "softmax": NP.softmax, "log_softmax": NP.log_softmax,
        "np": np,
    }


# ================================================================ one run of the cell


@dataclass
class _Bound:
    name: str
    k: int  # the k-th binding of name (1-based)
    value: Any  # as bound, before the perturbation
    is_input: bool
    symbol: Any = None  # sympy mode: a Symbol, or an object array of them for an array


class _Run:
    """The BIND and AT0 hooks of one execution, and the bindings it saw."""

    def __init__(self, symbolic: bool, counts: tuple, perturb: Optional[tuple] = None) -> None:
        self.symbolic = symbolic
        self.counts = set(counts)
        self.perturb = perturb  # numpy mode: ((name, k), delta array) or None
        self.bindings: list = []
        self.seen: dict = {}

    def bind(self, name: str, value: Any) -> Any:
        if name in self.counts or not _is_numeric(value):
            return value
        if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
            value = value.item()
        k = self.seen[name] = self.seen.get(name, 0) + 1
        if self.symbolic:
            is_input = not _is_symbolic(value)
            if np.ndim(value) == 0:
                symbol = sympy.Symbol(f"d_{name}_{k}", real=True)
                value = sympy.Float(float(value), 30) if is_input else value
            else:  # one symbol per element
                shape = np.shape(value)
                symbol = np.empty(shape, dtype=object)
                for index in np.ndindex(shape):
                    symbol[index] = sympy.Symbol(f"d_{name}_{k}_{'_'.join(map(str, index))}", real=True)
                value = np.array(value, dtype=np.float64) if is_input else value
            self.bindings.append(_Bound(name, k, value, is_input, symbol))
            return value + symbol
        value = np.array(value, dtype=np.float64)  # integers become float64, as for the magic
        self.bindings.append(_Bound(name, k, value.copy(), is_input=False))
        if self.perturb is not None and self.perturb[0] == (name, k):
            value = value + self.perturb[1]
        return value

    def at0(self, v: Any) -> Any:
        return _at_zero(v) if self.symbolic else v


def _execute(source: str, counts: tuple, symbolic: bool, perturb: Optional[tuple] = None) -> tuple:
    run = _Run(symbolic, counts, perturb)
    scope = _sympy_namespace() if symbolic else _numpy_namespace()
    scope.update({BIND: run.bind, AT0: run.at0, "__builtins__": builtins})
    with np.errstate(all="ignore"):
        exec(_compiled(source), scope)
    return run, scope


# ================================================================ the analysis


@dataclass
class Binding:
    """One binding of the cell as the oracle sees it."""

    label: str  # 'y' for the last binding of y, 'y#1', 'y#2' ... before
    name: str
    is_input: bool
    is_row: bool  # an input, or the last binding of its name
    value: np.ndarray
    grad: np.ndarray  # d sum(target) / d(this binding), same shape as value (nan where unknown)
    depends: bool  # the target's expression holds this binding's perturbation at all
    numerical: np.ndarray  # central differences (eps 1e-6) of the numpy interpretation
    exact: np.ndarray  # the same gradient by sympy, element by element


@dataclass
class Analysis:
    target: str
    target_is_scalar: bool
    bindings: dict  # label -> Binding, in the order the cell bound them
    derivatives: dict = field(default_factory=dict)  # scalar input label -> [d1, ..., dN] (scalar target)

    @property
    def rows(self) -> list:
        return [b for b in self.bindings.values() if b.is_row]


def _labels(bindings: list) -> list:
    totals: dict = {}
    for b in bindings:
        totals[b.name] = totals.get(b.name, 0) + 1
    return [b.name if b.k == totals[b.name] else f"{b.name}#{b.k}" for b in bindings]


def _target_value(scope: dict, name: str) -> Any:
    if name not in scope:
        raise OracleError(f"the cell does not bind the target {name!r}")
    return scope[name]


def _sum(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.sum(value) if value.size else 0.0
    return value


def _symbolic_run(source: str, counts: tuple, target: Optional[str]) -> tuple:
    run, scope = _execute(source, counts, symbolic=True)
    if not run.bindings:
        raise OracleError("the cell binds no number")
    name = target or run.bindings[-1].name
    value = _target_value(scope, name)
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        value = value.item()
    expression = _sum(value)
    if isinstance(expression, np.ndarray) and expression.dtype == object:
        expression = expression.item()
    if not isinstance(expression, sympy.Basic):
        raise OracleError(f"the target {name!r} does not depend on any binding")
    return run, name, value, sympy.sympify(expression)


def _numeric_target(source: str, counts: tuple, name: str, perturb: Optional[tuple] = None) -> tuple:
    run, scope = _execute(source, counts, symbolic=False, perturb=perturb)
    return run, float(np.sum(_target_value(scope, name)))


def _central_differences(source: str, counts: tuple, name: str, key: tuple, value: np.ndarray) -> np.ndarray:
    grad = np.zeros(value.shape)
    for index in np.ndindex(value.shape):
        delta = np.zeros(value.shape)
        delta[index] = EPS
        _, high = _numeric_target(source, counts, name, (key, delta))
        _, low = _numeric_target(source, counts, name, (key, -delta))
        grad[index] = (high - low) / (2 * EPS)
    return grad


@functools.lru_cache(maxsize=None)
def analyze(source: str, counts: tuple = (), target: Optional[str] = None, mode: str = "sympy",
            max_order: int = 4) -> Analysis:
    """Values, first-order gradients of sum(target) for every binding, central differences, and
    (for a scalar target) derivatives up to ``max_order`` for every scalar input.

    mode "sympy": gradients and derivatives exact (sympy); "numpy": first-order gradients by
    central differences of the numpy interpretation, derivatives still by sympy.
    """
    run, name, target_value, expression = _symbolic_run(source, counts, target)
    base, _ = _numeric_target(source, counts, name)
    if [(b.name, b.k) for b in base.bindings] != [(b.name, b.k) for b in run.bindings]:
        raise OracleError("the sympy and numpy runs of the cell bound different names")
    target_is_scalar = np.ndim(target_value) == 0
    labels = _labels(run.bindings)
    last = {b.name: label for b, label in zip(run.bindings, labels)}
    symbols = expression.free_symbols
    bindings = {}
    for b, numeric, label in zip(run.bindings, base.bindings, labels):
        value = np.array(numeric.value, dtype=np.float64)
        numerical = _central_differences(source, counts, name, (b.name, b.k), value)
        element_symbols = np.array(b.symbol, dtype=object)
        depends = builtins.any(s in symbols for s in element_symbols.flat)
        exact = np.array([_at_zero(sympy.diff(expression, s)) if s in symbols else 0.0 for s in element_symbols.flat],
                         dtype=float).reshape(value.shape)
        grad = exact if mode == "sympy" else numerical
        bindings[label] = Binding(label, b.name, b.is_input, b.is_input or last[b.name] == label, value, grad,
                                  depends, numerical, exact)
    derivatives = {}
    if target_is_scalar:
        for b, label in zip(run.bindings, labels):
            if not (b.is_input and np.ndim(b.value) == 0):
                continue
            values, e = [], expression
            for _ in range(max_order):
                e = sympy.diff(e, b.symbol) if e != 0 else e
                values.append(_at_zero(e) if e != 0 else 0.0)
            derivatives[label] = values
    return Analysis(name, target_is_scalar, bindings, derivatives)


def hessian(source: str, counts: tuple = (), target: Optional[str] = None) -> tuple:
    """(names, matrix): the labels of the cell's scalar input rows, in the order the cell binds them (the
    last binding of ``x`` is ``x``, earlier ones ``x#1`` ...), and the exact (n, n) float array of the
    target's second derivatives over them, mixed partials included: entry (i, j) is
    d²(target) / d(input i) d(input j), each perturbation symbol differentiated in turn and set to 0,
    as ``analyze`` does for one input's higher derivatives. Every entry is computed on its own (the
    matrix is not made symmetric by copying), so a test can check the symmetry too. Array inputs,
    names in ``counts`` and bindings computed from other bindings are not rows of it. The target must
    be a scalar (OracleError otherwise)."""
    names, matrix = _hessian(source, tuple(counts), target)
    return names, matrix.copy()


@functools.lru_cache(maxsize=None)
def _hessian(source: str, counts: tuple, target: Optional[str]) -> tuple:
    run, name, target_value, expression = _symbolic_run(source, counts, target)
    if np.ndim(target_value) != 0:
        raise OracleError(f"the target {name!r} has shape {np.shape(target_value)}: a Hessian needs a scalar target")
    inputs = [(label, b.symbol) for b, label in zip(run.bindings, _labels(run.bindings))
              if b.is_input and np.ndim(b.value) == 0]
    firsts = [sympy.diff(expression, symbol) for _, symbol in inputs]
    matrix = np.array([[_at_zero(sympy.diff(first, symbol)) if first != 0 else 0.0 for _, symbol in inputs]
                       for first in firsts], dtype=np.float64).reshape(len(inputs), len(inputs))
    return tuple(label for label, _ in inputs), matrix
