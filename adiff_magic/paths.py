"""The chain rule as a sentence: the derivative of a scalar target with respect to a scalar input
is the sum, over the paths from the input to the target, of the product of the local derivatives
along each path (dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1). A pure function of the
recorded graph: each local derivative is the function's own backward given 1, on plain arrays."""
from __future__ import annotations

import re
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
    # the same through the cell's named variables only: a factor is then the partial derivative of one
    # named variable's expression with respect to another (∂loss/∂p, summing the paths inside a line)
    named: tuple = ()  # empty when there are more than MAX_PATHS such paths
    named_count: int = 0

    def products(self, named: bool = False) -> list:
        """The product of each written path's local derivatives."""
        with np.errstate(all="ignore"):  # 0 × inf is nan here, as in the backward pass
            return [float(np.prod([factor.value for factor in path])) for path in (self.named if named else self.paths)]


Labeller = Callable[[Variable], Optional[Any]]  # Variable -> Label (with .name), None for a constant


def chain_rules(target: Variable, inputs: list, label: Labeller) -> tuple:
    """({input name: ChainRule} for each scalar input of a scalar graph, notes)."""
    functions = list(islice(functions_of(target), MAX_FUNCTIONS + 1))
    if len(functions) > MAX_FUNCTIONS:
        return {}, [f"the chain rule is not written out: the graph has over {MAX_FUNCTIONS:,} functions"]
    if target.data.ndim or not _all_scalar(functions):
        return {}, []
    edges = _edges(functions)  # id(input variable) -> [(function, index)]
    local = LocalDerivatives()
    named_paths = _NamedPaths(target, edges, local, label)
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
        try:
            named = named_paths.of(x)
        except (RecursionError, OverflowError):  # thousands of named steps, or a huge expression in one line
            named = ((), 0)
        total = float(np.sum(x.grad)) if x.grad is not None else 0.0
        rules[name] = ChainRule(name, count, paths, total, named[0], named[1])
    return rules, []


def _all_scalar(functions: list) -> bool:
    return all(is_scalar(func) for func in functions)


def is_scalar(func: Any) -> bool:
    """One output, and every input and the output hold one number."""
    outputs = [ref() for ref in func.outputs]
    if len(outputs) != 1 or outputs[0] is None or np.ndim(outputs[0].data):
        return False
    return not any(np.ndim(x.data) for x in func.inputs)


def _edges(functions: list) -> dict:
    edges: dict = {}
    for func in functions:
        for index, x in enumerate(func.inputs):
            edges.setdefault(id(x), []).append((func, index))
    return edges


class LocalDerivatives:
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


def _paths(x: Variable, target: Variable, edges: dict, local: LocalDerivatives, label: Labeller) -> list:
    """Every path from x to the target as Factors, target first."""
    found = []

    def walk(v: Variable, factors: list) -> None:
        if v is target:
            found.append(tuple(reversed(factors)))
            return
        for func, index in edges.get(id(v), ()):
            y = func.outputs[0]()
            factor = Factor(node_name(label, y), node_name(label, v), local(func, index))
            walk(y, factors + [factor])

    walk(x, [])
    return found


def node_name(label: Labeller, v: Variable) -> str:
    """The variable's label; one made where the cell is not instrumented (inside a def or a lambda)
    is named by its function, e.g. 'mul(…)'."""
    shown = label(v)
    if shown is not None:
        return shown.name
    return f"{type(v.creator).__name__.lower()}(…)" if v.creator is not None else "constant"


NAMED = re.compile(r"[^\W\d]\w*(#\d+)?")  # a label the cell bound ('p', 'y#2'), not source text ('w*x')
MAX_INNER_PATHS = 10_000  # inside one line; a larger expression gets no named sentence


class _NamedPaths:
    """The paths from an input to the target through named variables only, each factor the partial
    derivative of one named variable with respect to the one before (summed over the paths inside)."""

    def __init__(self, target: Variable, edges: dict, local: LocalDerivatives, label: Labeller) -> None:
        self.target, self.edges, self.local, self.label = target, edges, local, label
        self.partials: dict = {}  # id(named variable) -> [(next named variable, ∂next/∂it)]

    def of(self, x: Variable) -> tuple:
        """(paths of Factors, count), the paths empty when count > MAX_PATHS."""
        found: list = []
        count = self._walk(x, [], found)
        return (tuple(found) if count <= MAX_PATHS else ()), count

    def _walk(self, v: Variable, factors: list, found: list) -> int:
        if v is self.target:
            if len(found) <= MAX_PATHS:
                found.append(tuple(reversed(factors)))
            return 1
        count = 0
        for w, value in self._next(v):
            factor = Factor(node_name(self.label, w), node_name(self.label, v), value)
            count += self._walk(w, factors + [factor], found)
            if count > MAX_PATHS:
                break
        return count

    def _next(self, v: Variable) -> list:
        """The named variables reached from v through unnamed ones, with ∂(each)/∂v."""
        if id(v) not in self.partials:
            sums: dict = {}
            expanded = 0
            stack = [(v, 1.0)]
            while stack:
                u, product = stack.pop()
                for func, index in self.edges.get(id(u), ()):
                    expanded += 1
                    if expanded > MAX_INNER_PATHS:
                        raise OverflowError("too many paths inside one expression")
                    w = func.outputs[0]()
                    value = product * self.local(func, index)
                    if w is self.target or self._is_named(w):
                        sums[id(w)] = (w, sums.get(id(w), (w, 0.0))[1] + value)
                    else:
                        stack.append((w, value))
            self.partials[id(v)] = list(sums.values())
        return self.partials[id(v)]

    def _is_named(self, v: Variable) -> bool:
        shown = self.label(v)
        return shown is not None and NAMED.fullmatch(shown.name) is not None
