"""Cell text -> Program: which names the cell assigns and reads, labelled expressions, and the
instrumented code that the runner executes. Knows nothing of the engine or of IPython."""
from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import sys
from dataclasses import dataclass
from types import CodeType
from typing import Collection, Iterator, Optional

FILENAME = "<%%grad cell>"
NODE_HOOK = "__adiff_node__"  # called as NODE_HOOK(value, expression_index) around each operation
LEAF_HOOK = "__adiff_leaf__"  # called as LEAF_HOOK(value, name, line) around each `name = value`


CATEGORIES = ("empty", "syntax", "name", "input", "size", "shape", "type", "arithmetic", "recursion", "runtime",
              "backward", "target", "option", "interrupted", "internal")


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
    free_names: tuple  # NameUse per name the cell reads before binding it: they come from the notebook
    expressions: tuple  # Expression per instrumented operation, indexed by the hook's argument
    bare_lines: tuple  # lines of top-level expression statements such as `square(x)`: results never named
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
    with _deep_recursion():  # a sum of 1,000 terms is a tree 1,000 deep
        tree = _syntax_tree(source, lines)
        names = _NameCollector()
        names.visit(tree)
        instrument = _Instrumenter(source)
        tree = ast.fix_missing_locations(instrument.visit(tree))
        code = _compile(tree, lines)
    return Program(
        source=source,
        lines=lines,
        assignments=tuple(instrument.assignments),
        assigned=tuple(names.bound),
        free_names=tuple(names.loaded.values()),
        expressions=tuple(instrument.expressions),
        bare_lines=tuple(node.lineno for node in tree.body if isinstance(node, ast.Expr)
                         and not isinstance(node.value, ast.Constant)),
        code=code,
    )


def _syntax_tree(source: str, lines: tuple) -> ast.Module:
    try:
        tree = ast.parse(source, FILENAME)
    except SyntaxError as error:
        lineno = error.lineno if error.lineno and error.lineno <= len(lines) else len(lines)
        line = lines[lineno - 1] if lines else ""
        raise CellError(f"syntax error: {error.msg}", lineno, line, category="syntax") from None
    except (ValueError, RecursionError) as error:  # a null byte; nesting too deep for Python itself
        raise CellError(f"syntax error: {error}", category="syntax") from None
    if not tree.body:
        raise CellError("the cell has only comments", hint="write assignments such as x = 0.5 and y = square(x)",
                        category="empty")
    return tree


def _compile(tree: ast.Module, lines: tuple) -> CodeType:
    try:
        return compile(tree, FILENAME, "exec")
    except (RecursionError, MemoryError, SyntaxError):
        raise CellError("an expression is nested too deeply to run", hint="split it over several lines",
                        category="syntax") from None


@contextlib.contextmanager
def _deep_recursion(limit: int = 20_000) -> Iterator[None]:
    """Let the AST walks below recurse as deep as the cell is nested."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(builtins.max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def check_names(program: Program, known: Collection[str]) -> None:
    """Raise CellError at the first use of a name that is neither bound in the cell nor ``known``."""
    preferred = set(known) | set(program.assigned)  # suggested before Python's builtins
    available = preferred | set(dir(builtins))
    for use in program.free_names:
        if use.name not in available:
            close = (difflib.get_close_matches(use.name, sorted(preferred), n=1, cutoff=0.6)
                     or difflib.get_close_matches(use.name, sorted(available), n=1, cutoff=0.6))
            hint = f"did you mean '{close[0]}'?" if close else ""
            kind = "unknown function" if use.called else "undefined name"
            raise CellError(f"{kind} '{use.name}'", use.lineno, program.line(use.lineno), hint, category="name")


class _NameCollector(ast.NodeVisitor):
    """Names bound anywhere in the cell (first-seen order), and the names read before the cell binds
    them: those come from the notebook (``x = x - lr`` reads the notebook's x).

    Values are visited before the names they are assigned to, as Python runs them. Function bodies,
    lambdas and comprehensions have their own local names, so their reads are left to Python.
    """

    def __init__(self) -> None:
        self.bound: list = []
        self.loaded: dict = {}  # name -> NameUse, for reads before any binding

    def _bind(self, name: str) -> None:
        if name not in self.bound:
            self.bound.append(name)

    def _read(self, name: str, lineno: int, called: bool) -> None:
        if name not in self.bound and name not in self.loaded:
            self.loaded[name] = NameUse(name, lineno, called)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id, node.lineno, called=False)
        else:
            self._bind(node.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self._read(node.func.id, node.lineno, called=True)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):  # y += 1 reads y first
            self._read(node.target.id, node.lineno, called=False)
        self.visit(node.target)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

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
