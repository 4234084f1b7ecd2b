"""Cell text -> Program: which names the cell assigns and reads, labelled expressions, and the
instrumented code that the runner executes. Knows nothing of IPython, nor of the engine beyond the
function names of adiff_magic.vocabulary (which arguments are counts or bounds)."""
from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import gc
import re
import sys
from dataclasses import dataclass
from types import CodeType
from typing import Any, Collection, Iterator, Mapping, Optional

from .errors import FILENAME, CellError, source_line
from .vocabulary import VOCABULARY

NODE_HOOK = "__adiff_node__"  # NODE_HOOK(value, expression_index) around each operation
BIND_HOOK = "__adiff_bind__"  # `name = BIND_HOOK(name, assignment_index)` after each binding of a name
TEST_HOOK = "__adiff_test__"  # TEST_HOOK(value, lineno) around each value the cell compares or tests
CALL_HOOK = "__adiff_call__"  # CALL_HOOK(function, lineno) around the function of each call
DATA_HOOK = "__adiff_data__"  # DATA_HOOK(value, lineno) around the value given to `v.data = …` or `v.data -= …`

# Where a name's integer value means a count, an index, an axis or a shape, not a number to
# differentiate: in [...], in the arguments and keywords of VOCABULARY.count_functions and
# .count_keywords (range, reshape's shape, sum's axis...). Such a name keeps its integer (see
# Program.count_names). A name in the bounds of clip (VOCABULARY.bound_functions and .bound_keywords)
# keeps its plain number: the engine holds them as constants (see Program.bound_names).


@dataclass(frozen=True)
class Expression:
    """An operation in the cell: its line and its source text, e.g. (3, 'exp(a)')."""

    lineno: int
    text: str


@dataclass(frozen=True)
class Assignment:
    """A binding of a name by an assignment statement (``=``, ``+=``, ``: float =``, tuples) or ``:=``."""

    name: str
    lineno: int
    text: str  # the source of the value bound: '0.5', 'square(x)', 'y += 1'


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
    assignments: tuple  # Assignment per binding, in source order, indexed by BIND_HOOK's argument
    assigned: tuple  # every name the cell binds (assignments, loop variables, defs), first-seen order
    free_names: tuple  # NameUse per name the cell reads before binding it: they come from the notebook
    expressions: tuple  # Expression per instrumented operation, indexed by NODE_HOOK's argument
    bare_lines: tuple  # lines of top-level expression statements such as `square(x)`: results never named
    count_names: frozenset  # names used as a count, index, axis or shape: their integers stay integers
    bound_names: frozenset  # names used in clip's bounds: their numbers stay plain numbers
    deletions: tuple  # (name, lineno) per `del name`
    code: CodeType

    def line(self, lineno: Optional[int]) -> str:
        """The source line ``lineno`` (1-based), or '' if there is none."""
        return source_line(self.lines, lineno)

    @property
    def last_assigned(self) -> Optional[str]:
        """The name of the last assignment in the source."""
        return self.assignments[-1].name if self.assignments else None


def parse(source: str) -> Program:
    """Parse a cell; raise CellError for an empty cell or a syntax error."""
    if not source.strip():
        raise CellError("the cell is empty", hint="write assignments such as x = 0.5 and y = square(x)",
                        category="empty")
    lines = tuple(source.splitlines())
    with _deep_recursion(), paused_cycle_collector():  # a sum of 1,000 terms is a tree 1,000 deep
        tree = _syntax_tree(source, lines)
        names = _NameCollector()
        names.visit(tree)
        counts, bounds = _plain_names(tree)
        bare_lines = tuple(node.lineno for node in tree.body if isinstance(node, ast.Expr)
                           and not isinstance(node.value, ast.Constant))
        instrument = _Instrumenter(_Segments(source))
        tree = instrument.visit(tree)  # every node it makes is given its place: no fix_missing_locations walk
        code = _compile(tree, lines)
    return Program(
        source=source,
        lines=lines,
        assignments=tuple(instrument.assignments),
        assigned=tuple(names.bound),
        free_names=tuple(names.loaded.values()),
        expressions=tuple(instrument.expressions),
        bare_lines=bare_lines,
        count_names=frozenset(counts),
        bound_names=frozenset(bounds),
        deletions=tuple(names.deletions),
        code=code,
    )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # how Python's parser (and ast.get_source_segment) splits lines


class _Segments:
    """``ast.get_source_segment(source, node)`` for many nodes at the cost of the segments alone.

    get_source_segment splits the whole source into lines on each call (quadratic over a cell).
    Here the start of each line is found once. Column offsets are UTF-8 byte offsets, so a cell
    with non-ASCII text is sliced as bytes; an ASCII cell, whose bytes are its characters, as text.
    """

    def __init__(self, source: str) -> None:
        self.text: Any = source if source.isascii() else source.encode()
        breaks = _LINE_BREAK if isinstance(self.text, str) else re.compile(_LINE_BREAK.pattern.encode())
        self.starts = [0] + [match.end() for match in breaks.finditer(self.text)]

    def __call__(self, node: ast.AST) -> str:
        """The source text of ``node``, exactly as ast.get_source_segment gives it ('' without a position)."""
        end_lineno, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_lineno is None or end_col is None or not hasattr(node, "lineno"):
            return ""
        segment = self.text[self.starts[node.lineno - 1] + node.col_offset: self.starts[end_lineno - 1] + end_col]
        return segment if isinstance(segment, str) else segment.decode()


def _syntax_tree(source: str, lines: tuple) -> ast.Module:
    try:
        tree = ast.parse(source, FILENAME)
    except SyntaxError as error:
        raise _syntax_error(error, lines) from None
    except (ValueError, RecursionError) as error:  # a null byte; nesting too deep for Python itself
        raise CellError(f"syntax error: {error}", category="syntax") from None
    if not tree.body:
        raise CellError("the cell has only comments", hint="write assignments such as x = 0.5 and y = square(x)",
                        category="empty")
    return tree


_STATEMENT_HINTS = {
    "outside function": "a %%grad cell runs at the top level, like a notebook cell; put it inside a def",
    "outside loop": "use it inside a for or while loop",
    "global declaration": "a %%grad cell's names are already global: drop the global statement",
    "nonlocal": "a %%grad cell runs at the top level, where nothing is nonlocal",
}


def _syntax_error(error: SyntaxError, lines: tuple) -> CellError:
    lineno = error.lineno if error.lineno and error.lineno <= len(lines) else len(lines)
    line = lines[lineno - 1] if lines else ""
    hint = next((text for key, text in _STATEMENT_HINTS.items() if key in str(error.msg)), "")
    return CellError(f"syntax error: {error.msg}", lineno, line, hint, category="syntax")


def _compile(tree: ast.Module, lines: tuple) -> CodeType:
    try:
        return compile(tree, FILENAME, "exec")
    except SyntaxError as error:  # found only by the compiler: return or break at the top level, global x...
        raise _syntax_error(error, lines) from None
    except (RecursionError, MemoryError):
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


@contextlib.contextmanager
def paused_cycle_collector() -> Iterator[None]:
    """Pause Python's cycle collector while the syntax tree is built and rewritten (and, in the
    magic, while the cell's graph is built and differentiated: the engine frees it by reference
    counting alone).

    The tree is tens of thousands of new objects for a long cell, and each of them counts towards
    the collector's next pass, which then walks the whole growing tree: a fifth of the time of a
    3,000-line parse. Syntax trees hold no reference cycles, so nothing is left uncollected; the
    collector is switched back on (if it was on) afterwards, as timeit does around what it times.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
        self.bound: dict = {}  # name -> None: an ordered set
        self.loaded: dict = {}  # name -> NameUse, for reads before any binding
        self.deletions: list = []  # (name, lineno) per `del name`

    def _bind(self, name: str) -> None:
        self.bound.setdefault(name)

    def _read(self, name: str, lineno: int, called: bool) -> None:
        if name not in self.bound and name not in self.loaded:
            self.loaded[name] = NameUse(name, lineno, called)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id, node.lineno, called=False)
        elif isinstance(node.ctx, ast.Del):
            self.deletions.append((node.id, node.lineno))
        else:
            self._bind(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

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


def _plain_names(tree: ast.AST) -> tuple:
    """(count names, bound names). Count names: the names the cell uses as a count, an index, an axis
    or a shape: every name inside a subscript's slice, or a counting argument or keyword of a call (see
    VOCABULARY). Each node is walked once: a counting subtree is not searched for further counting
    calls. Bound names: every name inside clip's bounds."""
    counting: list = []  # the subtrees whose names are all counts
    bounding: list = []  # the subtrees whose names are all bounds (still searched for counts)
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Subscript):
            counting.append(node.slice)
            stack.append(node.value)
        elif isinstance(node, ast.Call):
            counted = _arguments(node, VOCABULARY.count_functions, VOCABULARY.count_keywords)
            counting.extend(counted)
            bounding.extend(_arguments(node, VOCABULARY.bound_functions, VOCABULARY.bound_keywords))
            ids = {id(child) for child in counted}
            stack.extend(child for child in ast.iter_child_nodes(node) if id(child) not in ids)
        elif not isinstance(node, (ast.Name, ast.Constant, ast.expr_context)):
            stack.extend(ast.iter_child_nodes(node))
    return _names_in(counting), _names_in(bounding)


def _names_in(roots: list) -> set:
    return {node.id for root in roots for node in ast.walk(root) if isinstance(node, ast.Name)}


def _arguments(node: ast.Call, functions: Mapping[str, int], keywords: Collection[str]) -> tuple:
    """The arguments and keywords of a call that ``functions`` (name -> first such argument) and
    ``keywords`` single out, e.g. those whose names are counts, indices, axes or shapes."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    chosen: list = []
    if name in functions:
        method = isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name) and func.value.id == "np")
        chosen += node.args[0 if method else functions[name]:]  # x.reshape(n, m): every argument is a size
    chosen += [keyword for keyword in node.keywords if keyword.arg in keywords]
    return tuple(chosen)


class _Instrumenter(ast.NodeTransformer):
    """Wraps each operation in NODE_HOOK, follows each binding of a name with BIND_HOOK, wraps values
    the cell tests in TEST_HOOK and the function of each call in CALL_HOOK."""

    _OPERATIONS = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Attribute)  # x.T makes a node too

    def __init__(self, segment: _Segments) -> None:
        self._segment = segment  # node -> its source text
        self.expressions: list = []
        self.assignments: list = []

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node  # user functions and classes run as written

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def _unchanged(self, node: ast.AST) -> ast.AST:
        return node  # names, constants and contexts hold no operation: not walked into

    visit_Name = visit_Constant = visit_Load = visit_Store = visit_Del = _unchanged

    def _binding(self, name: str, lineno: int, text: str) -> int:
        self.assignments.append(Assignment(name, lineno, text))
        return len(self.assignments) - 1

    def _rebind(self, node: ast.stmt, pairs: list) -> list:
        """``node`` followed by ``name = BIND_HOOK(name, index)`` for each (name, text) it binds."""
        statements = [node]
        for name, text in pairs:
            where = _place(node)
            value = _hook_call(BIND_HOOK, ast.Name(name, _LOAD, **where), self._binding(name, node.lineno, text),
                               at=node)
            statements.append(ast.Assign([ast.Name(name, _STORE, **where)], value, **where))
        return statements

    def visit_Assign(self, node: ast.Assign) -> Any:
        pairs = [pair for target in node.targets for pair in self._bound(target, node.value)]
        self.generic_visit(node)
        if any(_is_data(target) for target in node.targets):
            node.value = _hook_call(DATA_HOOK, node.value, node.lineno)
        return self._rebind(node, pairs)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None or not isinstance(node.target, ast.Name):
            return node
        pairs = [(node.target.id, self._segment(node.value))]
        node.value = self.visit(node.value)
        return self._rebind(node, pairs)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        if _is_data(node.target):
            node.value = _hook_call(DATA_HOOK, node.value, node.lineno)
        if not isinstance(node.target, ast.Name):
            return node
        return self._rebind(node, [(node.target.id, self._segment(node))])

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.AST:
        text = self._segment(node.value)
        node.value = _hook_call(BIND_HOOK, self.visit(node.value), self._binding(node.target.id, node.lineno, text))
        return node

    def _bound(self, target: ast.AST, value: Optional[ast.AST]) -> list:
        """(name, source text of its value) for each name an assignment target binds."""
        if isinstance(target, ast.Name):
            return [(target.id, self._segment(value) if value is not None else "")]
        if isinstance(target, ast.Starred):
            return self._bound(target.value, None)
        if isinstance(target, (ast.Tuple, ast.List)):
            same_shape = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
                and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts)
            parts = value.elts if same_shape else [None] * len(target.elts)
            pairs = [pair for element, part in zip(target.elts, parts) for pair in self._bound(element, part)]
            whole = self._segment(value) if value is not None else ""
            return [(name, text or (f"{whole} (unpacked)" if whole else "")) for name, text in pairs]
        return []  # an attribute or an element: a.x = ..., a[0] = ...

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        node.left = _hook_call(TEST_HOOK, node.left, node.lineno)
        node.comparators = [_hook_call(TEST_HOOK, c, node.lineno) for c in node.comparators]
        return node

    def _tested(self, node: Any) -> Any:
        self.generic_visit(node)
        node.test = _hook_call(TEST_HOOK, node.test, node.test.lineno)
        return node

    visit_If = visit_While = visit_IfExp = visit_Assert = _tested

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        node.values = [_hook_call(TEST_HOOK, v, node.lineno) for v in node.values]
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node.func.adiff_callee = True  # x.reshape(…) is labelled as the call, not as the method
        node = super().generic_visit(node)
        if isinstance(node, ast.Call):
            node.func = _hook_call(CALL_HOOK, node.func, node.lineno)
        if isinstance(node, ast.Attribute) and getattr(node, "adiff_callee", False):
            return node
        if isinstance(node, self._OPERATIONS) and not isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            text = self._segment(node)
            self.expressions.append(Expression(node.lineno, text))
            return _hook_call(NODE_HOOK, node, len(self.expressions) - 1)
        return node


_LOAD, _STORE = ast.Load(), ast.Store()  # shared, as the parser shares them


def _is_data(target: ast.AST) -> bool:
    """``v.data``: the book's gradient descent updates it in place (x0.data -= lr * x0.grad)."""
    return isinstance(target, ast.Attribute) and target.attr == "data"


def _place(node: ast.AST) -> dict:
    """The position of ``node``, to give to the nodes made in its place."""
    return {"lineno": node.lineno, "col_offset": node.col_offset, "end_lineno": node.end_lineno,
            "end_col_offset": node.end_col_offset}


def _hook_call(hook: str, value: ast.expr, number: int, at: Optional[ast.AST] = None) -> ast.Call:
    """``hook(value, number)`` at the position of ``at`` (default: ``value``), the name of the hook
    and the number placed there too, as ast.fix_missing_locations would place them."""
    where = _place(at if at is not None else value)
    return ast.Call(func=ast.Name(hook, _LOAD, **where), args=[value, ast.Constant(number, **where)], keywords=[],
                    **where)
