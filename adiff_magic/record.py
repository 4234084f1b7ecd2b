"""Recorded run -> Recording: the one backward pass, with the Tracer as its hook, and everything the
views read of it, taken while the graph is alive: the graph's nodes (values, gradients) and edges
(local derivatives), where each step sits on the graph and the gradients it moves, and the chain rule.

Local derivatives are computed in one module, trace.py: ``local_derivative`` (the function's template,
else passed ÷ incoming) gives the steps' (lazily, from the numbers the Tracer kept), the graph's edges
and the chain rule's factors; ``unit_local`` only where that says nothing."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Optional

import numpy as np

from engine import Variable, functions_of

from .graph import MAX_NODES, nearest
from .model import Graph, GraphEdge, GraphNode, Place, Recording
from .paths import MAX_SENTENCES, Paths, is_scalar, node_name
from .trace import Labeller, Tracer, local_derivative, unit_local

GRAPH_LIMIT = 1_000  # functions kept; a larger graph keeps those nearest the target, and says so (the picture
# shows graph.MAX_NODES nodes of them)


def record(target: Variable, label: Labeller, line: Callable[[Optional[int]], str], inputs: list,
           functions: Optional[list] = None, limit: Optional[int] = MAX_SENTENCES) -> Recording:
    """Run the ordinary backward from ``target`` (``retain_grad``: every variable keeps its gradient)
    and record it. ``inputs``: (name, Variable) per input the chain rule is written for (at most
    ``limit`` of them); ``functions``: the graph's functions, nearest first, if already walked.
    An error raised by a backward propagates."""
    tracer = Tracer(label, line)
    with np.errstate(all="ignore"):  # nan and inf are flagged by the views instead
        target.backward(retain_grad=True, hook=tracer)
    try:
        return _recording(target, tracer, inputs, functions, limit)
    finally:
        tracer.release()


def _recording(target: Variable, tracer: Tracer, inputs: list, functions: Optional[list],
               limit: Optional[int]) -> Recording:
    local = _Locals(tracer)
    if functions is None:
        functions = list(functions_of(target))
    keys: dict = {}
    graph = graph_of(functions, tracer.label, local, keys)
    paths = Paths.of(target, tracer.label, local, functions)
    rules, node_rules, notes = {}, {}, []
    if isinstance(paths, Paths):
        rules, more = paths.rules(inputs, limit)
        notes += more
        node_rules, _ = paths.rules(_drawn_variables(graph, keys), None)
    elif paths:
        notes.append(paths)
    places = tuple(_place(func, flows, keys) for func, _, flows, _ in tracer.records)
    seed = np.array(target.grad.data if isinstance(target.grad, Variable) else target.grad)
    checks = tuple(replace(func.check, index=k) for k, (func, *_) in enumerate(tracer.records, 1)
                   if getattr(func, "check", None) is not None)  # a learner's own backward, checked (own.py)
    return Recording(node_name(tracer.label, target), keys.get(target, ""), seed, tuple(tracer.steps), places,
                     graph, len(functions), rules, node_rules, tuple(notes), checks)


class _Locals:
    """(function, input index) -> its local derivative as the recorded step's numbers give it (None: not
    one number, or not known), from ``trace.local_derivative``; asked only for the edges drawn and the
    paths written, each once. The steps are indexed as far as the functions asked for need: those
    nearest the target ran first."""

    def __init__(self, tracer: Tracer) -> None:
        self.records = tracer.records
        self.steps: dict = {}  # Function -> its record, for the steps indexed so far
        self.found: dict = {}

    def __call__(self, func: Any, index: int) -> Optional[float]:
        if (func, index) not in self.found:
            self.found[func, index] = self._value(func, index)
        return self.found[func, index]

    def _step(self, func: Any) -> Optional[tuple]:
        records, steps = self.records, self.steps
        while func not in steps and len(steps) < len(records):
            record = records[len(steps)]
            steps[record[0]] = record
        return steps.get(func)

    def _value(self, func: Any, index: int) -> Optional[float]:
        step = self._step(func)
        if step is None:
            return None  # its backward did not run (no gradient reached it)
        _, gy, flows, unlabelled = step
        passed = next((flow[2] for flow in flows if flow[1] == index), None)
        if passed is None:
            passed = next((p for i, p in unlabelled or () if i == index), None)
        if passed is None:
            return 0.0  # the backward gave this input no gradient (None): it does not depend on it
        local = local_derivative(func, index, gy, passed)
        return unit_local(func, index) if local is None else local.value


def graph_of(functions: list, label: Labeller, local: Callable[[Any, int], Optional[float]],
             keys: Optional[dict] = None) -> Graph:
    """The Graph made of ``functions`` (nearest the target first), at most GRAPH_LIMIT of them; ``keys``
    (if given) is filled with each Variable's and Function's node key."""
    functions = functions[:GRAPH_LIMIT]
    keys = {} if keys is None else keys
    nodes, edges = [], []

    def node(obj: Any, kind: str, text: str, value: Any = None, grad: Any = None) -> str:
        if obj not in keys:
            keys[obj] = f"n{len(keys) + 1}"
            nodes.append(GraphNode(keys[obj], kind, text, value, grad))
        return keys[obj]

    def variable(v: Variable) -> str:
        grad = v.grad.data if isinstance(v.grad, Variable) else v.grad
        return node(v, "variable", node_name(label, v), v.data, grad)

    for func in functions:
        key = node(func, "function", type(func).__name__ + _checked(func))
        scalar = is_scalar(func)
        edges.extend(GraphEdge(variable(x), key, local(func, index) if scalar else None)
                     for index, x in enumerate(func.inputs))
        edges.extend(GraphEdge(key, variable(ref())) for ref in func.outputs if ref() is not None)
    return Graph(tuple(nodes), tuple(edges))


def _checked(func: Any) -> str:
    """' ✗' or ' ?' after a learner's function whose backward is wrong or cannot be told (own.py)."""
    check = getattr(func, "check", None)
    return f" {check.verdict}" if check is not None and check.verdict != "✓" else ""


def graph_notes(recording: Recording) -> list:
    """What --graph must say it left out."""
    if recording.functions <= GRAPH_LIMIT:
        return []
    return [f"--graph keeps the {GRAPH_LIMIT:,} functions nearest the target out of {recording.functions:,}"]


def _drawn_variables(graph: Graph, keys: dict) -> list:
    """(node key, Variable) for the variables the --step picture draws (the MAX_NODES nearest the target)."""
    shown, _ = nearest(graph, MAX_NODES)
    by_key = {key: v for v, key in keys.items() if isinstance(v, Variable)}
    return [(node.key, by_key[node.key]) for node in shown.nodes if node.kind == "variable"]


UNDRAWN = Place("", "", (), ())  # a step on the part of the graph that is not drawn


def _place(func: Any, flows: tuple, keys: dict) -> Place:
    """Where a step sits on the graph, and the gradients it moves on it: its labelled inputs' (a literal
    constant shows no gradient)."""
    if func not in keys:
        return UNDRAWN  # the graph keeps whole functions, nearest the target first
    outputs = [ref() for ref in func.outputs if ref() is not None]
    inputs = func.inputs
    moved = tuple((keys[inputs[i]], before, after) for _, i, _, _, after, before in flows if inputs[i] in keys)
    return Place(keys[func], keys.get(outputs[0], "") if outputs else "", tuple(keys[x] for x in inputs if x in keys),
                 moved)
