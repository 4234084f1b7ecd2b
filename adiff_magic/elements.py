"""The chain rule for one element of an array input (``--wrt "W1[0,1]"``): the sum, over the paths
through the elements it touches, of the products of element partial derivatives, written through
the cell's named variables: dloss/dW1[0,1] = ∂loss/∂y[0,0] · ∂y[0,0]/∂h[0,1] · ∂h[0,1]/∂W1[0,1].

A factor ∂v[i]/∂u[j] is the derivative of v's line with respect to u (the other named variables held
fixed), read from the recorded Functions' own backward rules, run on plain arrays from a one-hot
gradient at v[i] back to the named variables v's line uses. Bounded: a named variable of more than
MAX_ELEMENTS elements, or more than MAX_BACKWARDS such runs, stops the walk, and the note says so."""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from engine import Variable, no_grad

from .fmt import NAMED
from .model import Factor

MAX_ELEMENTS = 256  # a named variable with more elements is not followed element by element
MAX_BACKWARDS = 2_000  # one-hot backward runs per element asked for
MAX_PATHS = 4  # paths written out; the rest are counted

ELEMENT = re.compile(r"([^\W\d]\w*(?:#\d+)?)\[([-\d, ]+)\]")  # 'W1[0,1]', 'b1[2]', 'w#1[0]'


@dataclass(frozen=True)
class ElementRule:
    """d(target)/d(input[index]) as a sum over element paths of products of element partials."""

    input: str  # 'W1[0,1]'
    count: int  # element paths from it to the target
    paths: tuple  # at most MAX_PATHS tuples of Factors, target first
    total: float  # the gradient's element, as the backward pass gave it
    note: str = ""  # why no path is written ('' when they are)


def parse_element(text: str) -> Optional[tuple]:
    """('W1', (0, 1)) for 'W1[0,1]'; None for a plain name."""
    match = ELEMENT.fullmatch(text.strip())
    if match is None:
        return None
    return match.group(1), tuple(int(part) for part in match.group(2).split(",") if part.strip())


def element_name(name: str, index: tuple) -> str:
    """'W1[0,1]' (no spaces: a wrapped line never splits it); a single number is its name alone."""
    return f"{name}[{','.join(str(i) for i in index)}]" if index else name


def named_variables(variables: Any, label: Any, target: Variable, target_name: str) -> dict:
    """id(Variable) -> the name the cell bound it to ('h', 'w#1'), for ``variables`` whose label is such a
    name, and the target: the variables an element's chain rule goes through."""
    named = {}
    for v in variables:
        shown = label(v)
        if shown is not None and NAMED.fullmatch(shown.name):
            named[id(v)] = shown.name
    named[id(target)] = target_name
    return named


def element_rule(target: Variable, named: dict, name: str, variable: Variable, index: tuple, grad: Any,
                 walk: Optional["ElementWalk"] = None) -> ElementRule:
    """The ElementRule of ``variable[index]`` (called ``name``) in the graph under the scalar ``target``;
    ``named`` maps id(Variable) -> the cell's name for it (named_variables). A ``walk`` of the same graph
    given by the caller keeps the partials it has computed for the next element."""
    walk = walk if walk is not None else ElementWalk(target, named)
    shown = element_name(name, index)
    total = float(np.asarray(grad)[index]) if grad is not None else 0.0
    flat = int(np.ravel_multi_index(index, np.shape(variable.data)))
    try:
        edges = walk.edges_from(variable, flat)
    except _TooLarge as error:
        return ElementRule(shown, 0, (), total, str(error))
    except Exception as error:  # a learner's backward that needs Variables, say: no element walk, said so
        return ElementRule(shown, 0, (), total, f"the element-by-element walk could not run a backward here "
                                                f"({type(error).__name__}: {error})")
    count, paths = _paths((id(variable), flat), (id(target), 0), edges)
    written = tuple(tuple(Factor(walk.label(out), walk.label(inp), value) for inp, out, value in path)
                    for path in paths)
    return ElementRule(shown, count, written, total)


class _TooLarge(Exception):
    """The walk would pass MAX_ELEMENTS or MAX_BACKWARDS (the message says which)."""


class ElementWalk:
    """Element partials between the named variables under a target, computed as they are needed and
    kept (one walk serves every element of the graph)."""

    def __init__(self, target: Variable, named: dict) -> None:
        self.target, self.named = target, dict(named)
        self.named.setdefault(id(target), "target")
        self.variables: dict = {}  # id -> Variable, for the named ones met
        self.rows: dict = {}  # (id(v), i) -> {id(u): ∂v[i]/∂u as an array}
        self.backwards = 0

    def label(self, key: tuple) -> str:
        """'h[0,1]' for (id(h), flat index)."""
        v = self.variables[key[0]]
        shape = np.shape(v.data)
        index = np.unravel_index(key[1], shape) if shape else ()
        return element_name(self.named.get(key[0], "?"), tuple(int(i) for i in index))

    def edges_from(self, variable: Variable, flat: int) -> dict:
        """{(u key) -> [(v key, ∂v/∂u)]}: every element edge from ``variable[flat]`` forward to the target."""
        self.variables[id(variable)] = variable
        self.backwards = 0  # the bound is per element: runs kept from an earlier element cost nothing
        users = self._users()
        edges: dict = {}
        frontier = [(id(variable), flat)]
        seen = set(frontier)
        for v in self._forward_order(users, variable):
            uses = {id(u) for u in self._inputs_of(v)}
            touched = [key for key in seen if key[0] in uses]
            if not touched:
                continue
            self._check_size(v)
            for i in range(int(np.size(v.data))):
                row = self._row(v, i)
                for key in touched:
                    value = float(np.ravel(row.get(key[0], np.zeros(())))[key[1]]) if key[0] in row else 0.0
                    if value != 0.0:
                        edges.setdefault(key, []).append(((id(v), i), value))
                        seen.add((id(v), i))
        return edges

    def _check_size(self, v: Variable) -> None:
        if np.size(v.data) > MAX_ELEMENTS:
            raise _TooLarge(f"{self.named.get(id(v), 'a variable')} has {np.size(v.data):,} elements: the walk "
                            f"follows variables of at most {MAX_ELEMENTS} element by element")

    def _row(self, v: Variable, i: int) -> dict:
        """∂v[i]/∂u for each named u that v's line uses (a one-hot backward through the line)."""
        key = (id(v), i)
        if key not in self.rows:
            self.backwards += 1
            if self.backwards > MAX_BACKWARDS:
                raise _TooLarge(f"the walk would run over {MAX_BACKWARDS:,} backward passes")
            seed = np.zeros(np.shape(v.data))
            seed.flat[i] = 1.0
            self.rows[key] = self._line_backward(v, seed)
        return self.rows[key]

    def _line_backward(self, v: Variable, seed: np.ndarray) -> dict:
        """The gradients a backward from v (seeded with ``seed``) leaves on the named variables of its
        line: it passes through unnamed variables only."""
        grads = {id(v): seed}
        heap = [(-v.creator.generation, id(v.creator), v.creator)] if v.creator is not None else []
        queued = {id(v.creator)} if v.creator is not None else set()
        reached: dict = {}
        with no_grad(), np.errstate(all="ignore"):
            while heap:
                _, _, func = heapq.heappop(heap)
                outputs = [ref() for ref in func.outputs]
                gys = [grads.get(id(y), np.zeros(np.shape(y.data))) if y is not None else None for y in outputs]
                gxs = func.backward(*gys)
                gxs = gxs if isinstance(gxs, tuple) else (gxs,)
                for x, gx in zip(func.inputs, gxs):
                    if gx is None:
                        continue
                    gx = np.asarray(gx.data if isinstance(gx, Variable) else gx, dtype=float)
                    grads[id(x)] = grads[id(x)] + gx if id(x) in grads else gx
                    if id(x) in self.named and x is not v:
                        self.variables[id(x)] = x
                        reached[id(x)] = grads[id(x)]
                    elif x.creator is not None and id(x.creator) not in queued:
                        queued.add(id(x.creator))
                        heapq.heappush(heap, (-x.creator.generation, id(x.creator), x.creator))
        return reached

    def _inputs_of(self, v: Variable) -> list:
        """The named variables v's line uses (a walk through unnamed variables, no numbers)."""
        found, stack, seen = [], [v.creator] if v.creator is not None else [], set()
        while stack:
            func = stack.pop()
            if id(func) in seen:
                continue
            seen.add(id(func))
            for x in func.inputs:
                if id(x) in self.named:
                    found.append(x)
                elif x.creator is not None:
                    stack.append(x.creator)
        return found

    def _users(self) -> dict:
        """The named variables under the target (the target included), by id."""
        users, stack, seen = {}, [self.target], set()
        while stack:
            x = stack.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            if id(x) in self.named or x is self.target:
                users[id(x)] = x
            if x.creator is not None:
                stack.extend(x.creator.inputs)
        return users

    def _forward_order(self, users: dict, start: Variable) -> list:
        """The named variables made by a function, inputs first (by generation, as the forward ran)."""
        made = [v for v in users.values() if v.creator is not None and v is not start]
        for v in made:
            self.variables[id(v)] = v
        return sorted(made, key=lambda v: v.generation)


def _paths(start: tuple, end: tuple, edges: dict) -> tuple:
    """(count, up to MAX_PATHS paths) from ``start`` to ``end``; a path is [(u, v, value), ...] from the
    end backwards (target first), as the scalar sentences write it."""
    counts: dict = {}

    def count(key: tuple) -> int:
        stack = [key]
        while stack:
            k = stack[-1]
            if k in counts:
                stack.pop()
                continue
            pending = [v for v, _ in edges.get(k, ()) if v not in counts]
            if pending:
                stack.extend(pending)
                continue
            counts[k] = 1 if k == end else sum(counts[v] for v, _ in edges.get(k, ()))
            stack.pop()
        return counts[key]

    total = count(start)
    paths = []
    stack = [(start, [])]
    while stack and len(paths) < MAX_PATHS:
        key, path = stack.pop()
        if key == end:
            paths.append(tuple(reversed(path)))
            continue
        for v, value in reversed(edges.get(key, ())):
            if counts.get(v):
                stack.append((v, path + [(key, v, value)]))
    return total, tuple(paths)
