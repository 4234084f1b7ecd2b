"""The shared frozen types: what a %%grad cell's backward pass did, as plain data that a test can
build by hand. A Recording holds one backward pass; every view (table, chain rule, trace, graph,
--step) is a function of it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

import numpy as np

CONSTANT_NAME = "constant"  # the name of a leaf the cell did not name: a literal number (the 2 of 2*x)


@dataclass(frozen=True, slots=True)
class Label:
    """How the cell refers to a variable: ``name`` (e.g. 'b' or 'exp(a)') and the line that made it."""

    name: str
    lineno: Optional[int]


@dataclass(frozen=True, slots=True)
class Local:
    """One step's local derivative ∂output/∂input, kept as a template over the step's operands, so
    that a rendering writes it in the cell's own letters and with its numbers at any precision."""

    template: str  # over {x} (one input) or {a}, {b} (two), {y} (the output), and the function's fields;
    # '' when the function gives none: then ``value`` is passed ÷ incoming
    names: dict  # placeholder -> the operand as the cell writes it ('b', 'w*x'); None for a literal constant
    numbers: dict  # placeholder -> its value (the function's fields included)
    value: float  # the local derivative


@dataclass(frozen=True, slots=True)
class Flow:
    """The gradient one step passes to one input."""

    input: str  # the input's label
    local: Optional[Local]  # None where it is not one number (arrays, several outputs)
    grad: np.ndarray  # the gradient passed: incoming gradient times local derivative
    accumulated: bool  # added to a gradient the input already had from another path
    total: np.ndarray  # the input's gradient after this step
    position: Optional[int] = None  # which of the function's inputs it is (0 first); None if not recorded


@dataclass(frozen=True, slots=True)
class Operands:
    """What an array step's matrix form is written from: its inputs as the cell names them (None for a
    literal constant, whose value is kept when it is one number), their shapes and the output's, the function's scalar local templates (elementwise
    functions) and its parameters (axis, shape, axes, index, c...)."""

    names: tuple
    shapes: tuple
    output_shape: tuple
    templates: tuple = ()
    fields: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)  # position -> value of an unnamed single-number input


@dataclass(frozen=True, slots=True)
class BackwardStep:
    """One function's backward: who ran, with what incoming gradient, which rule, what it passed."""

    index: int  # 1-based, in execution order
    function: str  # e.g. 'Square'
    output: str  # label of the function's output (e.g. 'y'), joined with ', ' for several
    lineno: Optional[int]  # the cell line that called the function
    source: str  # that line's text
    gy: tuple  # incoming gradient(s), one per output
    rule: str  # the local rule, e.g. 'd/dx x² = 2x'
    flows: tuple  # a Flow per input
    operands: Optional[Operands] = None  # an array step's operands, for its matrix form; None for numbers


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
    paths: tuple  # a tuple of Factors per path, target first; empty when there are too many, or not written
    total: float  # the sum of the products: the gradient
    # the same through the cell's named variables only: a factor is then the partial derivative of one
    # named variable's expression with respect to another (∂loss/∂p, summing the paths inside a line)
    named: tuple = ()  # empty when there are too many such paths
    named_count: int = 0
    written: bool = True  # False: only the count and the total are kept (past the inputs written out)

    def products(self, named: bool = False) -> list:
        """The product of each written path's local derivatives."""
        with np.errstate(all="ignore"):  # 0 × inf is nan here, as in the backward pass
            return [float(np.prod([factor.value for factor in path])) for path in (self.named if named else self.paths)]


class GraphNode(NamedTuple):
    """A node of the --graph picture: a variable (its name, value and gradient) or a function."""

    key: str  # 'n1', 'n2', ...
    kind: str  # 'variable' or 'function'
    text: str  # the variable's name as the cell knows it, or the function's class name
    value: Any = None  # a variable's data
    grad: Any = None  # a variable's first-order gradient (None: the target does not depend on it)


class GraphEdge(NamedTuple):
    """An edge in the direction of the data: input variable -> function, or function -> output."""

    source: str  # a node key
    target: str
    local: Optional[float] = None  # input -> function, all scalar: ∂(the function's output)/∂(this input)


class Graph(NamedTuple):
    """The graph under the target: nodes, and GraphEdges in the direction of the data."""

    nodes: tuple
    edges: tuple


@dataclass(frozen=True)
class Place:
    """Where one backward step sits on the graph, and the gradients it moves: node keys ('' where the
    node is not drawn) and, per input the cell names that received a gradient, (key, gradient before,
    after); the gradient before is None when the input had none yet (a literal constant shows none)."""

    function: str
    output: str
    inputs: tuple
    moves: tuple


@dataclass(frozen=True)
class Recording:
    """What one backward pass did, as plain frozen data. Table, chain rule, trace, graph and the --step
    frames are functions of it; a replay at other input values gives another Recording."""

    target: str  # the target's label
    target_key: str  # its node key
    seed: np.ndarray  # the gradient the pass started from (ones)
    steps: tuple  # BackwardStep per function's backward, in the order the engine ran them
    places: tuple  # a Place per step, in the same order
    graph: Graph  # the graph under the target, nearest first, with values, gradients and local derivatives
    functions: int  # how many functions the whole graph has (``graph`` keeps at most record.GRAPH_LIMIT)
    rules: dict  # input name -> ChainRule
    node_rules: dict  # node key -> ChainRule, for the variables drawn (asked for by --step), else empty
    notes: tuple  # what the chain rule could not write
    checks: tuple = ()  # an owncheck.StepCheck per step of a learner's own backward (own.py), in step order
