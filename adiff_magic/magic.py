"""The %%grad cell magic: options, orchestration, error translation. The work is done elsewhere."""
from __future__ import annotations

import keyword
import os
import re
import tempfile
from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .errors import CellError, type_name
from .extras import no_progress
from .parser import Program, parse, paused_cycle_collector
from .progress import ProgressLine
from .elements import parse_element
from .result import GradResult, View
from .runner import Options, run_recorded

MAX_PRECISION = 17  # a float64 needs at most 17 significant digits
DEFAULT_PRECISION = 6
MAX_ORDER = 50  # beyond this the derivative graphs of anything but a polynomial are far too large anyway


def _names(text: Optional[str]) -> Optional[tuple]:
    """'x,w', 'x, w', '"x, w"', 'x#1,w' (a label the table shows) -> ('x', 'w'); 'W1[0,1]' is kept whole."""
    if text is None:
        return None
    names = tuple(name.strip().strip("'\"").strip() for name in _OUTSIDE_BRACKETS.split(text.strip("'\"")))
    names = tuple(name for name in names if name)
    if not names:
        raise UsageError("--wrt needs names, e.g. --wrt x,y")
    bad = [name for name in names if not _is_label(name)]
    if bad:
        raise UsageError(f"--wrt: '{bad[0]}' is not a variable name (or a label such as x#1 from the table, or "
                         "an element such as \"W1[0,1]\"); write the names with commas, e.g. --wrt x,w")
    return names


_OUTSIDE_BRACKETS = re.compile(r",(?![^\[]*\])")  # the commas between names, not those of W1[0,1]


def _is_label(text: str) -> bool:
    """'x', or 'x#2': the table's label of an earlier binding of x; or an element of one, 'W1[0,1]'."""
    element = parse_element(text)
    name, mark, k = (element[0] if element else text).partition("#")
    return name.isidentifier() and (not mark or k.isdigit())


_COMMA = re.compile(r"\s*,\s*(?=[^\s-])")  # a comma between names, with the spaces around it


def _joined_lists(line: str) -> str:
    """'--wrt x, w' -> '--wrt x,w': unquoted, the space would end --wrt's argument at 'x,'."""
    return _COMMA.sub(",", line)


CONFINED_WIDTH = 840  # a picture up to this wide shrinks to a narrower output; a wider one scrolls


def _picture_metadata(svg: str) -> dict:
    """JupyterLab's display metadata for the picture (read for SVG and PNG alike): confined, that is shrunk
    to the output's width (150% zoom with the file browser open leaves ~420 px), when it is at most
    CONFINED_WIDTH wide, so the target is never cut off; a wider one is shown at its own size and the
    output scrolls (shrunk that far, its text would be too small to read)."""
    match = re.search(r'<svg[^>]*\bwidth="([\d.]+)', svg)
    wide = match is not None and float(match.group(1)) > CONFINED_WIDTH
    return {"image/svg+xml": {"unconfined": wide}, "image/png": {"unconfined": wide}}


def _check_out(out: Optional[str], program: Program) -> None:
    """-o NAME must not be a name the cell binds: the result would silently replace the cell's value."""
    if out is not None and out in program.assigned:
        other = next(n for n in ("result", "grad_result", f"{out}_result") if n not in program.assigned)
        raise CellError(f"-o/--out: the cell binds '{out}' itself, and storing the result there would replace "
                        "it", hint=f"choose another name, e.g. -o {other}", category="option")


def _out_name(text: Optional[str]) -> Optional[str]:
    if text is not None and (not text.isidentifier() or keyword.iskeyword(text)):
        raise UsageError(f"-o/--out: '{text}' is not a valid Python name to store the result under, e.g. -o result")
    return text


def _transformed(shell: Any, cell: str) -> str:
    """The cell as IPython transforms it (pasted >>> prompts dropped), line for line; IPython's own
    syntax (%magic, !command, name?) is refused at its line: it does not run inside %%grad."""
    try:
        transformed = shell.transform_cell(cell)
    except SyntaxError:  # IPython tokenizes the cell first: the parser will name the line
        return cell
    lines = cell.splitlines()
    blank = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    new_lines = [""] * blank + transformed.splitlines()  # IPython drops the leading blank lines
    if len(new_lines) != len(lines):
        return cell  # not line for line: let the parser see the cell as written
    for lineno, (line, new) in enumerate(zip(lines, new_lines), 1):
        if "get_ipython()" in new and "get_ipython()" not in line:
            raise CellError("IPython syntax (%magic, !command, name?) does not run inside a %%grad cell", lineno,
                            line, "run it in a cell of its own", category="syntax")
    return "\n".join(new_lines) + "\n"


def options_from(args: Any) -> Options:
    """The Options of parsed %%grad arguments; a UsageError for a value out of range."""
    if not 1 <= args.order <= MAX_ORDER:
        raise UsageError(f"--order must be between 1 and {MAX_ORDER}, got {args.order}")
    if args.precision is not None and not 1 <= args.precision <= MAX_PRECISION:
        raise UsageError(f"--precision must be between 1 and {MAX_PRECISION}, got {args.precision}")
    view = View(trace=not args.no_trace, graph=args.graph, lang=args.lang, full_trace=args.trace == "full",
                digits=args.precision or DEFAULT_PRECISION, table_digits=args.precision, mode=args.mode,
                folded=args.step, quiz=args.quiz)
    if args.quiz and not args.step:
        raise UsageError("--quiz asks its questions in the --step view: use --step --quiz")
    return Options(target=args.target, wrt=_names(args.wrt), order=args.order, check=args.check,
                   plot=args.plot, view=view, engine=args.engine, mode=args.mode, hessian=args.hessian)


@magics_class
class GradMagics(Magics):
    """Holds the %%grad magic."""

    @magic_arguments()
    @argument("-o", "--out", metavar="NAME",
              help="store the GradResult in the namespace under NAME (not a name the cell binds)")
    @argument("--target", metavar="NAME", help="the variable to differentiate (default: the last one assigned)")
    @argument("--wrt", metavar="A,B", help="the inputs to report (default: every input)")
    @argument("--order", type=int, default=1, metavar="N",
              help="derivatives up to order N of a scalar target with respect to each scalar input")
    @argument("--check", action="store_true",
              help="add central differences per input and a verdict: |backprop - central| <= "
                   "1e-6*max(1, |target|) + 1e-5*|gradient|, never nan (result.check_passed)")
    @argument("--graph", action="store_true", help="draw the computational graph (SVG, with a PNG and a text fallback)")
    @argument("--plot", action="store_true",
              help="plot the target around the input with its tangent (one scalar input; needs matplotlib)")
    @argument("--mode", choices=["reverse", "forward", "both"], default="reverse",
              help="reverse: the backward pass (default); forward: forward mode, a pass per input pushing tangents "
                   "line by line (result.tangents); both: one row per line with its value, tangents and adjoint, "
                   "and how many passes each mode needs")
    @argument("--hessian", action="store_true",
              help="the second derivatives over the scalar inputs, mixed partials included (result.hessian), "
                   "with one Newton step for a single input")
    @argument("--no-trace", action="store_true", help="show the table only")
    @argument("--trace", choices=["compact", "full"], default="compact",
              help="compact: a header per step and a line per input (default); full: creator, input, incoming, "
                   "rule, local and passes on rows of their own")
    @argument("--precision", type=int, default=None, metavar="N",
              help="significant digits everywhere (default 6 in the trace, the chain rule, the graph and the "
                   "table's arrays; without it the table's numbers keep every digit, to compare with "
                   "print(x.grad); the result always keeps every digit)")
    @argument("--step", action="store_true",
              help="under the output, step through the backward pass: ◀ ▶, play, click a node for its chain "
                   "rule, a slider per input (needs anywidget; the cell's value is then the view, use -o for "
                   "the result)")
    @argument("--quiz", action="store_true",
              help="with --step: each step's local derivative and gradient stay hidden until you type them (a ✓, or "
                   "a hint: the rule in the cell's letters, then the numbers); a score at the end")
    @argument("--quiet", action="store_true", help="show nothing; the names are still bound")
    @argument("--lang", choices=["en", "ko"], default="en", help="ko: the words in Korean as well as English")
    @argument("--engine", choices=["auto", "ours", "own"], default="auto",
              help="auto: the classes that made the target (the notebook's own DeZero-style Variable and "
                   "Function, or this engine's); ours: this engine's names hide the notebook's; own: the "
                   "notebook's classes must have made the target")
    @cell_magic
    def grad(self, line: str, cell: str) -> Any:
        """Run the cell on the autodiff engine and show every variable's value and gradient and
        each step of the backward pass.

        Example::

            %%grad
            x = 0.5
            a = square(x)
            b = exp(a)
            y = square(b)

        Numbers and arrays the cell binds to names (``x = 0.5``, ``a, b = 0.5, 2.0``,
        ``x: float = 0.5``, ``(x := 0.5)``, ``y += 1``; ``x = w = 0.5`` is two inputs) or reads from
        the notebook are the inputs, except integers the cell uses as a count, index, axis or shape
        (``range(steps)``, ``lp[idx, labels]``, ``axis=k``), which stay integers, and the bounds of
        ``clip(x, lo, hi)``, which stay plain numbers. The target is the last variable the cell
        assigned as it ran. ``if x > 0:`` takes the branch the value says. A Function instance
        records one call: ``Square()(a)`` or ``square(a)`` for each.

        Inside the cell ``max(a, b)`` and ``min(a, b)`` with two or more operands are Python's
        (elementwise, differentiable; a tie splits the gradient); ``max(x)`` and ``max(x, axis=0)``
        are the engine's reductions. ``sum(iterable)`` and ``pow(a, b)`` are Python's too.

        The cell's statements run once. --order differentiates with engine.grad, --check, --plot and
        --step's sliders re-evaluate the recorded graph (keeping the branches it took); none of them changes the
        first-order gradients shown or left on the notebook's Variables. After the cell, its names
        hold engine Variables with ``.grad`` set. A cell with a mistake changes nothing in the
        notebook.
        """
        args = parse_argstring(self.grad, _joined_lists(line))
        out = _out_name(args.out)
        options = options_from(args)
        namespace = self.shell.user_ns
        step_view = _step_view_class() if args.step and not args.quiet else None
        try:
            with paused_cycle_collector():  # it would only scan the graph, which is freed without it
                program = parse(_transformed(self.shell, cell))
                _check_out(out, program)
                progress = no_progress if args.quiet else ProgressLine()
                result, scope, recorded = run_recorded(program, namespace, options, progress)
                view = step_view(recorded) if step_view is not None else None
        except CellError as error:
            scope = getattr(error, "scope", None)
            if scope is not None:  # the learner's own backward failed: the cell itself ran, its names stay
                for name in program.assigned:
                    if name in scope:
                        namespace[name] = scope[name]
                raise UsageError(f"{error}\n(the cell itself ran: its names are bound as it left them)") from None
            raise UsageError(str(error)) from None
        except Exception as error:  # a bug of ours: still one paragraph, and the notebook unchanged
            raise UsageError(f"internal error in adiff-magic ({type_name(error)}: {error}); "
                             "the notebook was not changed. Please report this cell.") from None
        for name in program.assigned:  # only now, after everything succeeded
            if name in scope:
                namespace[name] = scope[name]
        if out:
            namespace[out] = result
        return self._show(result, args.quiet, view, progress)

    def _show(self, result: GradResult, quiet: bool, view: Any = None, progress: Any = None) -> Any:
        if quiet:
            return None
        if result.view.graph and result.graph:
            from .render import graph_bundle

            bundle = graph_bundle(result, progress)
            display(bundle, raw=True, metadata=_picture_metadata(bundle["image/svg+xml"]))
        if result.plot_png is not None:
            display({"image/png": result.plot_png, "text/plain": plot_text(result.plot_png, _in_a_terminal(self.shell))},
                    raw=True)
        if view is None:
            return result
        display(result)  # the static output first; the view under it is the cell's value
        if not _in_a_terminal(self.shell):  # its offline twin: the stepper where no kernel serves the view
            from .offline import bundle

            display(bundle(view._model, view.key, result.view.lang), raw=True)
        return view


def _in_a_terminal(shell: Any) -> bool:
    """Terminal IPython, which shows only text: a picture must go to a file."""
    return type(shell).__name__ == "TerminalInteractiveShell"


def plot_text(png: bytes, terminal: bool) -> str:
    """The --plot's text form: in a terminal, the path of a PNG file written with it, to open in a viewer."""
    if not terminal:
        return "<plot of the target and its tangent>"
    handle, path = tempfile.mkstemp(prefix="adiff-plot-", suffix=".png")
    with os.fdopen(handle, "wb") as file:
        file.write(png)
    return f"<plot of the target and its tangent: {path} (a terminal shows no pictures; open it in an image viewer)>"


def _step_view_class() -> Any:
    """The --step view's class, or a UsageError before the cell runs when anywidget is missing."""
    try:
        from .widget import StepView
    except ImportError as error:
        raise UsageError(f"--step needs anywidget ({error}): pip install 'adiff-magic[lab]' "
                         "or pip install anywidget") from None
    return StepView


def _plain_help(doc: str) -> str:
    """The magic's help as plain text: the usage line as the user types it, no reST markup."""
    doc = doc.replace("::\n\n  %grad ", "Usage:\n\n  %%grad ", 1)
    return doc.replace("Example::", "Example:").replace("``", "")


GradMagics.grad.__doc__ = _plain_help(GradMagics.grad.__doc__ or "")
