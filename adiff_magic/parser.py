"""Cell text -> Program: which names the cell assigns and reads, labelled expressions, and the
instrumented code that the runner executes. Knows nothing of the engine or of IPython."""
from __future__ import annotations

import ast
import builtins
import difflib
from dataclasses import dataclass
from types import CodeType
from typing import Collection, Optional

FILENAME = "<%%grad cell>"
NODE_HOOK = "__adiff_node__"  # called as NODE_HOOK(value, expression_index) around each operation
LEAF_HOOK = "__adiff_leaf__"  # called as LEAF_HOOK(value, name, line) around each `name = value`


CATEGORIES = ("empty", "syntax", "name", "input", "size", "shape", "type", "arithmetic", "recursion", "runtime",
              "backward", "target", "option", "internal")


class CellError(Exception):
    """A mistake in the cell, located at a line: prints the line number, the message and the line.

    ``category`` (one of CATEGORIES) says what kind of mistake it is, for tests and tools.
    """

    def __init__(self, message: str, lineno: Optional[int] = None, line: str = "", hint: str = "",
                 category: str = "runtime") -> None:
        super().__init__(message)
        self.message, self.lineno, self.line, self.hint, self.category = message, lineno, line, hint, category

    def __str__(self) -> str:
        where = f"line {self.lineno}: " if self.lineno else ""
        hint = f" ({self.hint})" if self.hint else ""
        shown = f"\n    {self.line.strip()}" if self.line.strip() else ""
        return f"{where}{self.message}{hint}{shown}"


@dataclass(frozen=True)
class Expression:
    """An operation in the cell: its line and its source text, e.g. (3, 'exp(a)')."""

    lineno: int
    text: str


@dataclass(frozen=True)
class Assignment:
    """A ``name = expression`` statement."""

    name: str
    lineno: int
    text: str


@dataclass(frozen=True)
class NameUse:
    """The first place the cell reads a name it never binds."""

    name: str
    lineno: int
    called: bool  # read as a function: f(...)


@dataclass(frozen=True)
class Program:
    """A parsed cell, ready to run."""

    source: str
    lines: tuple
    assignments: tuple  # Assignment per `name = ...`, in source order
    assigned: tuple  # every name the cell binds (assignments, loop variables, defs), first-seen order
    free_names: tuple  # NameUse per name the cell reads but never binds: they come from the notebook
    expressions: tuple  # Expression per instrumented operation, indexed by the hook's argument
    code: CodeType

    def line(self, lineno: Optional[int]) -> str:
        """The source line ``lineno`` (1-based), or '' if there is none."""
        if lineno is None or not 1 <= lineno <= len(self.lines):
            return ""
        return self.lines[lineno - 1]

    @property
    def last_assigned(self) -> Optional[str]:
        """The name of the last ``name = ...`` in the source: the default target."""
        return self.assignments[-1].name if self.assignments else None


def parse(source: str) -> Program:
    """Parse a cell; raise CellError for an empty cell or a syntax error."""
    if not source.strip():
        raise CellError("the cell is empty", hint="write assignments such as x = 0.5 and y = square(x)",
                        category="empty")
    lines = tuple(source.splitlines())
    try:
        tree = ast.parse(source, FILENAME)
    except SyntaxError as error:
        lineno = error.lineno if error.lineno and error.lineno <= len(lines) else len(lines)
        line = lines[lineno - 1] if lines else ""
        raise CellError(f"syntax error: {error.msg}", lineno, line, category="syntax") from None
    names = _NameCollector()
    names.visit(tree)
    instrument = _Instrumenter(source)
    tree = ast.fix_missing_locations(instrument.visit(tree))
    return Program(
        source=source,
        lines=lines,
        assignments=tuple(instrument.assignments),
        assigned=tuple(names.bound),
        free_names=tuple(use for name, use in names.loaded.items() if name not in names.bound),
        expressions=tuple(instrument.expressions),
        code=compile(tree, FILENAME, "exec"),
    )


def check_names(program: Program, known: Collection[str]) -> None:
    """Raise CellError at the first use of a name that is neither bound in the cell nor ``known``."""
    available = set(known) | set(dir(builtins)) | set(program.assigned)
    for use in program.free_names:
        if use.name not in available:
            close = difflib.get_close_matches(use.name, sorted(available), n=1, cutoff=0.75)
            hint = f"did you mean '{close[0]}'?" if close else ""
            kind = "unknown function" if use.called else "undefined name"
            raise CellError(f"{kind} '{use.name}'", use.lineno, program.line(use.lineno), hint, category="name")


class _NameCollector(ast.NodeVisitor):
    """Names bound anywhere in the cell (first-seen order) and the first read of each name.

    Function bodies, lambdas and comprehensions have their own local names, so their reads are
    left to Python.
    """

    def __init__(self) -> None:
        self.bound: list = []
        self.loaded: dict = {}

    def _bind(self, name: str) -> None:
        if name not in self.bound:
            self.bound.append(name)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self._bind(node.id)
        elif node.id not in self.loaded:
            self.loaded[node.id] = NameUse(node.id, node.lineno, called=False)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id not in self.loaded:
            self.loaded[node.func.id] = NameUse(node.func.id, node.lineno, called=True)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._bind(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def _local_scope(self, node: ast.AST) -> None:
        pass

    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _local_scope


class _Instrumenter(ast.NodeTransformer):
    """Wraps each operation in NODE_HOOK and each ``name = value`` in LEAF_HOOK."""

    _OPERATIONS = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript)

    def __init__(self, source: str) -> None:
        self.source = source
        self.expressions: list = []
        self.assignments: list = []

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node  # user functions and classes run as written

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            text = ast.get_source_segment(self.source, node.value) or ""
            self.assignments.append(Assignment(name, node.lineno, text))
            node.value = _hook_call(LEAF_HOOK, node.value, ast.Constant(name), ast.Constant(node.lineno))
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            text = ast.get_source_segment(self.source, node) or ""
            self.assignments.append(Assignment(node.target.id, node.lineno, text))
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        is_load = not isinstance(getattr(node, "ctx", ast.Load()), (ast.Store, ast.Del))
        if isinstance(node, self._OPERATIONS) and is_load:
            text = ast.get_source_segment(self.source, node) or ""
            self.expressions.append(Expression(node.lineno, text))
            return _hook_call(NODE_HOOK, node, ast.Constant(len(self.expressions) - 1))
        return node


def _hook_call(hook: str, *args: ast.expr) -> ast.Call:
    call = ast.Call(func=ast.Name(hook, ast.Load()), args=list(args), keywords=[])
    return ast.copy_location(call, args[0])
