"""The chain rule as a sentence: the derivative of a scalar target with respect to a scalar input
is the sum, over the paths from the input to the target, of the product of the local derivatives
along each path (dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1). A pure function of the
recorded graph: each local derivative is the function's own backward given 1, on plain arrays."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Optional

import numpy as np

from engine import Variable, functions_of, no_grad

MAX_PATHS = 4  # more paths per input are counted, not written out
MAX_FUNCTIONS = 10_000  # larger graphs get no sentence (the note says so): counting paths walks them all


@dataclass(frozen=True)
class Factor:
    """One local derivative on a path: ∂(output)/∂(input) of one function, and its value."""

    output: str  # the label of the function's output, e.g. 'y'
    input: str  # the label of the input it is taken with respect to, e.g. 'b'
    value: float


@dataclass(frozen=True)
class ChainRule:
    """d(target)/d(input) as a sum over paths of products of local derivatives."""

    input: str
    count: int  # how many paths lead from the input to the target
    paths: tuple  # a tuple of Factors per path, target first; empty when count > MAX_PATHS
    total: float  # the sum of the products: the gradient

    def products(self) -> list:
        """The product of each written path's local derivatives."""
        with np.errstate(all="ignore"):  # 0 × inf is nan here, as in the backward pass
            return [float(np.prod([factor.value for factor in path])) for path in self.paths]


Labeller = Callable[[Variable], Optional[Any]]  # Variable -> Label (with .name), None for a constant


def chain_rules(target: Variable, inputs: list, label: Labeller) -> tuple:
    """({input name: ChainRule} for each scalar input of a scalar graph, notes)."""
    functions = list(islice(functions_of(target), MAX_FUNCTIONS + 1))
    if len(functions) > MAX_FUNCTIONS:
        return {}, [f"the chain rule is not written out: the graph has over {MAX_FUNCTIONS:,} functions"]
    if target.data.ndim or not _all_scalar(functions):
        return {}, []
    edges = _edges(functions)  # id(input variable) -> [(function, index)]
    local = _LocalDerivatives()
    rules = {}
    for name, binding in inputs:
        x = binding.variable
        count = _count_paths(x, target, edges)
        if count == 0:
            continue
        try:
            paths = tuple(_paths(x, target, edges, local, label)) if count <= MAX_PATHS else ()
        except Exception:  # a user's backward that cannot run on plain numbers: no sentence for it
            continue
        total = float(np.sum(x.grad)) if x.grad is not None else 0.0
        rules[name] = ChainRule(name, count, paths, total)
    return rules, []


def _all_scalar(functions: list) -> bool:
    for func in functions:
        outputs = [ref() for ref in func.outputs]
        if len(outputs) != 1 or outputs[0] is None or np.ndim(outputs[0].data):
            return False
        if any(np.ndim(x.data) for x in func.inputs):
            return False
    return True


def _edges(functions: list) -> dict:
    edges: dict = {}
    for func in functions:
        for index, x in enumerate(func.inputs):
            edges.setdefault(id(x), []).append((func, index))
    return edges


class _LocalDerivatives:
    """(function, index) -> ∂output/∂input[index]: the function's own backward given 1, on plain
    numbers, asked once per function and only for the functions on a written path."""

    def __init__(self) -> None:
        self.found: dict = {}

    def __call__(self, func: Any, index: int) -> float:
        if id(func) not in self.found:
            with no_grad(), np.errstate(all="ignore"):
                gxs = func.backward(np.float64(1.0))
            gxs = gxs if isinstance(gxs, tuple) else (gxs,)
            self.found[id(func)] = [0.0 if g is None else float(np.asarray(g.data if isinstance(g, Variable) else g))
                                    for g in gxs]
        return self.found[id(func)][index]


def _count_paths(x: Variable, target: Variable, edges: dict) -> int:
    """The number of paths from x to the target (memoised over variables, so any size of graph)."""
    counts: dict = {id(target): 1}
    order = []  # variables from x forward, deepest first when counted
    stack, seen = [x], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        order.append(v)
        for func, _ in edges.get(id(v), ()):
            stack.append(func.outputs[0]())
    for v in sorted(order, key=lambda v: -v.generation):
        if id(v) != id(target):
            counts[id(v)] = sum(counts.get(id(func.outputs[0]()), 0) for func, _ in edges.get(id(v), ()))
    return counts.get(id(x), 0)


def _paths(x: Variable, target: Variable, edges: dict, local: _LocalDerivatives, label: Labeller) -> list:
    """Every path from x to the target as Factors, target first."""
    found = []

    def walk(v: Variable, factors: list) -> None:
        if v is target:
            found.append(tuple(reversed(factors)))
            return
        for func, index in edges.get(id(v), ()):
            y = func.outputs[0]()
            factor = Factor(_name(label, y), _name(label, v), local(func, index))
            walk(y, factors + [factor])

    walk(x, [])
    return found


def _name(label: Labeller, v: Variable) -> str:
    """The variable's label; one made where the cell is not instrumented (inside a def or a lambda)
    is named by its function, e.g. 'mul(…)'."""
    shown = label(v)
    if shown is not None:
        return shown.name
    return f"{type(v.creator).__name__.lower()}(…)" if v.creator is not None else "constant"

