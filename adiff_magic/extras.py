"""The options that need more than one backward pass: --order differentiates again, --check and
--plot re-run the cell with other input values (through an ``evaluate`` callable), --graph walks the
graph. Each adds what it must say to ``notes``."""
from __future__ import annotations

import io
from itertools import islice
from typing import Any, Callable

import numpy as np

from engine import Variable, clear_grads, functions_of

from .parser import CellError
from .result import GradResult

Evaluate = Callable[[dict], float]  # {leaf key: new value} -> sum(target) for the cell re-run
CHECK_EPS = 1e-6
CHECK_RTOL = 1e-5  # shown as the tolerance in the output
MAX_DERIVATIVE_FUNCTIONS = 20_000  # --order stops before differentiating a larger graph, and says so
CHECK_MAX_ELEMENTS = 100  # per input; larger inputs are checked on their first elements, and the output says so


# ================================================================ --order


def higher_derivatives(target: Variable, name: str, inputs: list, order: int, notes: list) -> dict:
    """name -> [1st, ..., order-th derivative of the target] for each scalar input."""
    if target.data.ndim:
        raise CellError(f"--order needs a scalar target; '{name}' has shape {target.data.shape}", category="option")
    result = {}
    for input_name, binding in inputs:
        x = binding.variable
        if x.data.ndim:
            notes.append(f"--order skips '{input_name}': it is not a scalar")
            continue
        result[input_name] = _derivatives(target, x, order)
        if len(result[input_name]) < order:
            reached = len(result[input_name])
            notes.append(f"--order stopped at order {reached} for '{input_name}': the graph of that derivative "
                         f"already has over {MAX_DERIVATIVE_FUNCTIONS:,} functions, and it grows with each order")
    user_functions = sorted({type(f).__name__ for f in functions_of(target) if not type(f).__module__.startswith("engine")})
    if user_functions:
        notes.append(f"higher derivatives through {', '.join(user_functions)} are exact only if its backward "
                     "is written with engine functions")
    return result


def _derivatives(y: Variable, x: Variable, order: int) -> list:
    values = []
    for k in range(order):
        clear_grads(y)
        y.backward(create_graph=True)
        if x.grad is None:
            return values + [0.0] * (order - len(values))
        values.append(float(x.grad.data))
        y = x.grad
        if k + 1 < order and len(list(islice(functions_of(y), MAX_DERIVATIVE_FUNCTIONS))) == MAX_DERIVATIVE_FUNCTIONS:
            break
    return values


# ================================================================ --check


def numerical_check(evaluate: Evaluate, leaf_values: dict, inputs: list, notes: list) -> tuple:
    """Central differences of sum(target) for each input, by re-running the cell; and relative errors."""
    numerical, errors = {}, {}
    for name, binding in inputs:
        if binding.leaf_key is None:
            notes.append(f"--check skips '{name}': it was made with Variable(...), so the cell cannot be "
                         "re-run with another value")
            continue
        grad = _central_difference(evaluate, binding.leaf_key, leaf_values[binding.leaf_key], notes, name)
        analytic = np.zeros_like(grad) if binding.variable.grad is None else np.asarray(binding.variable.grad)
        numerical[name] = grad
        checked = np.isfinite(grad)
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(grad)), 1e-12)
        errors[name] = float(np.max(np.abs(analytic - grad)[checked] / scale[checked], initial=0.0))
    notes.append(f"--check: central differences with eps = {CHECK_EPS}; relative errors above {CHECK_RTOL} are flagged")
    return numerical, errors


def _central_difference(evaluate: Evaluate, key: int, value: np.ndarray, notes: list, name: str) -> np.ndarray:
    grad = np.full(value.shape, np.nan)
    indices = list(np.ndindex(value.shape))
    if len(indices) > CHECK_MAX_ELEMENTS:
        notes.append(f"--check: '{name}' has {len(indices)} elements; only the first {CHECK_MAX_ELEMENTS} were "
                     "checked (the others show nan in the central-difference column)")
        indices = indices[:CHECK_MAX_ELEMENTS]
    for index in indices:
        high, low = value.copy(), value.copy()
        high[index] += CHECK_EPS
        low[index] -= CHECK_EPS
        grad[index] = (evaluate({key: high}) - evaluate({key: low})) / (2 * CHECK_EPS)
    return grad


# ================================================================ --graph


GRAPH_LIMIT = 60  # functions shown; a larger graph shows those nearest the target, and says so


def graph_of(target: Variable, label: Any, notes: list) -> tuple:
    """(nodes, edges) of the graph under ``target``.

    Nodes are (key, kind, text, value, grad) with kind 'variable' or 'function'; edges (from, to).
    """
    functions = list(functions_of(target))
    if len(functions) > GRAPH_LIMIT:
        notes.append(f"--graph shows the {GRAPH_LIMIT} functions nearest the target out of {len(functions)}")
        functions = functions[:GRAPH_LIMIT]
    keys: dict = {}
    nodes, edges = [], []

    def node(obj: Any, kind: str, text: str, value: Any = None, grad: Any = None) -> str:
        if id(obj) not in keys:
            keys[id(obj)] = f"n{len(keys) + 1}"
            nodes.append((keys[id(obj)], kind, text, value, grad))
        return keys[id(obj)]

    def variable(v: Variable) -> str:
        shown = label(v)
        return node(v, "variable", shown.name if shown else "constant", v.data, v.grad)

    for func in functions:
        key = node(func, "function", type(func).__name__)
        edges.extend((variable(x), key) for x in func.inputs)
        edges.extend((key, variable(ref())) for ref in func.outputs if ref() is not None)
    return tuple(nodes), tuple(edges)


# ================================================================ --plot


def plot(evaluate: Evaluate, result: GradResult, inputs: list) -> bytes:
    """A PNG of sum(target) around the one scalar input, with its tangent."""
    scalars = [(name, b) for name, b in inputs if b.variable.data.ndim == 0]
    if len(scalars) != 1 or result.values[result.target].ndim:
        raise CellError("--plot needs one scalar input and a scalar target",
                        hint=f"the cell has {len(scalars)} scalar inputs; choose one with --wrt", category="option")
    if scalars[0][1].leaf_key is None:
        raise CellError(f"--plot cannot vary '{scalars[0][0]}': it was made with Variable(...)",
                        hint=f"assign a plain number instead, e.g. {scalars[0][0]} = 0.5", category="option")
    try:
        from matplotlib.figure import Figure  # not pyplot: the notebook's own plotting state is left alone
    except ImportError:
        raise CellError("--plot needs matplotlib", hint="pip install matplotlib", category="option") from None
    name, binding = scalars[0]
    target = result.target
    x0 = float(binding.variable.data)
    y0, slope = float(result.values[target]), float(result.grads.get(name, 0.0))
    span = max(1.0, abs(x0)) * 0.5
    xs = np.linspace(x0 - span, x0 + span, 61)
    ys = [evaluate({binding.leaf_key: np.array(x)}) for x in xs]
    figure = Figure(figsize=(5, 3.2), dpi=100)
    axes = figure.subplots()
    axes.plot(xs, ys, label=f"{target}({name})")
    axes.plot(xs, y0 + slope * (xs - x0), "--", label=f"tangent, slope d{target}/d{name} = {slope:.6g}")
    axes.plot([x0], [y0], "o")
    axes.set_xlabel(name)
    axes.set_ylabel(target)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
