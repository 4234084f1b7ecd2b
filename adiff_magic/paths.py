"""The chain rule as a sentence: the derivative of a scalar target with respect to a scalar input
is the sum, over the paths from the input to the target, of the product of the local derivatives
along each path (dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1). A pure function of the
recorded graph: each local derivative is the function's own backward given 1, on plain arrays.

Bounded whatever the cell does: paths are counted for every input in one pass over the graph, and
written out for at most MAX_SENTENCES inputs, each with at most MAX_PATHS paths, by walks that follow
only edges that lead to the target (no recursion, so any depth)."""
from __future__ import annotations

from itertools import islice
from typing import Any, Callable, Optional

import numpy as np

from engine import Variable, functions_of

from .fmt import NAMED
from .model import CONSTANT_NAME, ChainRule, Factor

MAX_PATHS = 4  # more paths per input are counted, not written out
MAX_SENTENCES = 6  # inputs whose paths are written out; the others keep their count and gradient
MAX_FUNCTIONS = 20_000  # a larger graph gets no sentence (a note says so): counting its paths costs ~10 µs a function


Labeller = Callable[[Variable], Optional[Any]]  # Variable -> Label (with .name), None for a constant


LocalValue = Callable[[Any, int], Optional[float]]  # (function, input index) -> ∂output/∂input, None: unknown


class UnknownLocal(Exception):
    """A local derivative on a path is not known (a user's Function without a rule, given 0)."""


class Paths:
    """The chain rule of one recorded scalar graph, for any of its variables."""

    @staticmethod
    def of(target: Variable, label: Labeller, local: LocalValue, functions: Optional[list] = None) -> Any:
        """The Paths of the graph under ``target``, or why there are none: a note, '' for arrays."""
        if functions is None:
            functions = list(islice(functions_of(target), MAX_FUNCTIONS + 1))
        if len(functions) > MAX_FUNCTIONS:
            return f"the chain rule is not written out: the graph has over {MAX_FUNCTIONS:,} functions"
        if target.data.ndim or not all(is_scalar(func) for func in functions):
            return ""
        return Paths(_Graph(target, functions, label, local))

    def __init__(self, graph: "_Graph") -> None:
        self.graph = graph

    def rules(self, variables: list, limit: Optional[int] = MAX_SENTENCES) -> tuple:
        """({name: ChainRule}, notes) for each (name, Variable) with a path to the target."""
        graph = self.graph
        reached = written_first([(name, x) for name, x in variables if graph.count(x)])
        rules, notes = {}, []
        for k, (name, x) in enumerate(reached):
            rule, note = graph.rule(name, x, limit is None or k < limit)
            if rule is not None:  # None: a local derivative on its path is not known (the note says so)
                rules[name] = rule
            notes += [note] if note else []
        return rules, notes


def written_first(inputs: list) -> list:
    """(name, variable) pairs in the order their sentences are written: the names the cell binds last
    (no '#k'), then first bindings ('w#1': where a loop starts), in the cell's order; then the others by
    decreasing |gradient|."""
    def rank(pair: tuple) -> tuple:
        name, x = pair
        if "#" not in name:
            return (0, 0.0)
        if name.endswith("#1"):
            return (1, 0.0)
        return (2, -float(np.max(np.abs(x.grad))) if x.grad is not None else 0.0)
    return sorted(inputs, key=rank)  # stable: the cell's order within a rank


def is_scalar(func: Any) -> bool:
    """One output, and every input and the output hold one number."""
    outputs = [ref() for ref in func.outputs]
    if len(outputs) != 1 or outputs[0] is None or np.ndim(outputs[0].data):
        return False
    return not any(np.ndim(x.data) for x in func.inputs)


class _Graph:
    """The recorded scalar graph seen from its inputs: who uses each variable, and how many paths lead
    from each variable to the target (one pass, deepest generation first)."""

    def __init__(self, target: Variable, functions: list, label: Labeller, local: LocalValue) -> None:
        self.target, self.label = target, label
        self.uses: dict = {}  # id(variable) -> [(function, index of the variable among its inputs)]
        for func in functions:
            for index, x in enumerate(func.inputs):
                self.uses.setdefault(id(x), []).append((func, index))
        self.counts = {id(target): 1}
        for func in sorted(functions, key=lambda f: -f.generation):  # a function's users run before it
            through = self.counts.get(id(func.outputs[0]()), 0)
            for x in func.inputs:
                self.counts[id(x)] = self.counts.get(id(x), 0) + through
        self.local = _known(local)
        self.named = _NamedPaths(self)

    def count(self, v: Variable) -> int:
        """The number of paths from ``v`` to the target."""
        return self.counts.get(id(v), 0)

    def onward(self, v: Variable) -> list:
        """(function, index, its output) for each use of ``v`` that leads to the target."""
        found = []
        for func, index in self.uses.get(id(v), ()):
            y = func.outputs[0]()
            if self.counts.get(id(y)):
                found.append((func, index, y))
        return found

    def rule(self, name: str, x: Variable, written: bool) -> tuple:
        """(ChainRule of input ``x``, or None and a note when a local derivative on its paths is not known)."""
        count, total = self.count(x), float(np.sum(x.grad)) if x.grad is not None else 0.0
        if not written:
            return ChainRule(name, count, (), total, written=False), ""
        try:
            paths = tuple(self.paths(x)) if count <= MAX_PATHS else ()
            named, named_count = self.named.of(x)
        except UnknownLocal as unknown:
            return None, (f"no chain-rule sentence for {name}: the local derivative of {unknown} on its path "
                          "is not known (its Function gives no rule, the gradient it was given is 0, and its "
                          "backward does not run on a plain number)")
        return ChainRule(name, count, paths, total, named, named_count), ""

    def paths(self, x: Variable) -> list:
        """Every path from ``x`` to the target as Factors, target first (there are at most MAX_PATHS)."""
        found = []
        stack = [(x, None)]  # (variable, the factors so far as a linked list: (factor, rest))
        while stack:
            v, factors = stack.pop()
            if v is self.target:
                found.append(_unlinked(factors))
                continue
            for func, index, y in reversed(self.onward(v)):
                factor = Factor(node_name(self.label, y), node_name(self.label, v), self.local(func, index))
                stack.append((y, (factor, factors)))
        return found


def _unlinked(factors: Optional[tuple]) -> tuple:
    """A linked list (last factor, (…, None)) as a tuple, the last factor first: target first."""
    found = []
    while factors is not None:
        factor, factors = factors
        found.append(factor)
    return tuple(found)


def _known(local: LocalValue) -> Callable[[Any, int], float]:
    """``local``, raising UnknownLocal (naming the function) where it is not known."""
    def known(func: Any, index: int) -> float:
        value = local(func, index)
        if value is None:
            raise UnknownLocal(type(func).__name__)
        return value
    return known


def node_name(label: Labeller, v: Variable) -> str:
    """The variable's label; one made where the cell is not instrumented (inside a def or a lambda)
    is named by its function, e.g. 'mul(…)'."""
    shown = label(v)
    if shown is not None:
        return shown.name
    return f"{type(v.creator).__name__.lower()}(…)" if v.creator is not None else CONSTANT_NAME


MAX_INNER_PATHS = 10_000  # inside one line; a larger expression gets no named sentence


class _NamedPaths:
    """The paths from an input to the target through named variables only, each factor the partial
    derivative of one named variable with respect to the one before (summed over the paths inside)."""

    def __init__(self, graph: _Graph) -> None:
        self.graph = graph
        self.partials: dict = {}  # id(named variable) -> [(next named variable, ∂next/∂it)]

    def of(self, x: Variable) -> tuple:
        """(paths of Factors, count): at most MAX_PATHS paths, else none and a count of MAX_PATHS + 1."""
        found: list = []
        stack = [(x, None)]
        while stack and len(found) <= MAX_PATHS:
            v, factors = stack.pop()
            if v is self.graph.target:
                found.append(_unlinked(factors))
                continue
            inner = self._next(v)
            if inner is None:  # too many paths inside one line: no named sentence
                return (), 0
            for w, value in reversed(inner):
                factor = Factor(node_name(self.graph.label, w), node_name(self.graph.label, v), value)
                stack.append((w, (factor, factors)))
        return (tuple(found) if len(found) <= MAX_PATHS else ()), len(found)

    def _next(self, v: Variable) -> Optional[list]:
        """The named variables reached from v through unnamed ones, with ∂(each)/∂v (None: too many)."""
        if id(v) not in self.partials:
            sums: dict = {}
            expanded = 0
            stack = [(v, 1.0)]
            while stack:
                u, product = stack.pop()
                for func, index, w in self.graph.onward(u):
                    expanded += 1
                    if expanded > MAX_INNER_PATHS:
                        self.partials[id(v)] = None
                        return None
                    value = product * self.graph.local(func, index)
                    if w is self.graph.target or self._is_named(w):
                        sums[id(w)] = (w, sums.get(id(w), (w, 0.0))[1] + value)
                    else:
                        stack.append((w, value))
            self.partials[id(v)] = list(sums.values())
        return self.partials[id(v)]

    def _is_named(self, v: Variable) -> bool:
        shown = self.graph.label(v)
        return shown is not None and NAMED.fullmatch(shown.name) is not None
