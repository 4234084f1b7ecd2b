"""GradResult: the outcome of a %%grad cell as plain data, with notebook and terminal renderings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class Row:
    """One variable of the cell: where it came from, its value and d(target)/d(it)."""

    name: str  # as shown: 'x', or 'y#1' for an earlier binding of a name bound several times
    lineno: Optional[int]  # None for a value read from the notebook
    expression: str  # the source that made it: '0.5', 'square(x)', or 'notebook'
    value: np.ndarray
    grad: Optional[np.ndarray]  # None: the target does not depend on it
    is_input: bool  # a leaf: a number or array the cell assigned or read


@dataclass(frozen=True)
class View:
    """What to show."""

    trace: bool = True
    table: bool = True
    graph: bool = False
    lang: str = "en"
    full_trace: bool = False  # the six-row form of each step instead of the compact one
    digits: int = 6  # significant digits in the trace, the chain rule, the graph and the table's arrays
    table_digits: Optional[int] = None  # the table's scalars: every digit (None), or --precision when given
    mode: str = "reverse"  # 'forward': tangents instead of the backward trace; 'both': Baydin's table of the two
    folded: bool = False  # the HTML trace starts folded (--step: the stepper shows the steps one by one)
    quiz: bool = False  # --step --quiz: the stepper asks for each local derivative and gradient before showing it


@dataclass(frozen=True)
class GradResult:
    """Values, gradients and the backward trace of one %%grad cell: built once, after every pass."""

    target: str
    rows: tuple
    steps: tuple
    values: dict
    grads: dict
    paths: dict = field(default_factory=dict)  # input name -> paths.ChainRule: the gradient as a sum over paths
    derivatives: dict = field(default_factory=dict)  # name -> [1st, ..., Nth derivative] (--order); None: unknown
    check: dict = field(default_factory=dict)  # name -> largest relative error vs central differences (--check)
    check_passed: dict = field(default_factory=dict)  # name -> bool: within tolerance, nothing nan (--check)
    check_tolerance: float = 1e-5  # the relative tolerance (there is an absolute floor too; see the notes)
    numerical: dict = field(default_factory=dict)  # name -> central-difference gradient (--check)
    notes: tuple = ()  # things the reader must know: seeding, summaries, nan/inf, tolerances
    explanations: tuple = ()  # why a gradient may surprise (surprises.py), shown under the table
    graph: tuple = ()  # (nodes, edges) (--graph)
    plot_png: Optional[bytes] = None  # (--plot)
    view: View = field(default_factory=View)
    # a graph of the learner's own classes (own.py): their names, and each step of their backward checked
    # against incoming × local by central differences (owncheck.StepCheck: verdict ✓, ✗ or ?)
    own_classes: tuple = ()
    own_check: tuple = ()
    # --wrt "W1[0,1]": per element asked for, its chain rule over the element paths (elements.ElementRule)
    elements: tuple = ()
    # --wrt W1 on an array input: (name, arrayrules.matrix_chain equations, or None where it is a sum the trace shows)
    matrices: tuple = ()
    # --mode forward / both: forward mode beside reverse (forward.Modes), and its tangents: seed -> {name: tangent}
    modes: Any = None
    tangents: dict = field(default_factory=dict)
    # --hessian: (name_i, name_j) -> ∂²target/∂name_i∂name_j, and the forward.Hessian it came from
    hessian: dict = field(default_factory=dict)
    second: Any = None

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from .render import terminal_width, to_text

        printer.text("GradResult(...)" if cycle else to_text(self, terminal_width()))

    def _repr_html_(self) -> str:
        from .render import to_html

        return to_html(self)

    def __repr__(self) -> str:
        from .render import to_text

        return to_text(self)
