"""Recorded run -> GradResult: finds the target, records the one ordinary backward (record.py), then
runs the extra passes (pure functions of the recorded run), and builds the GradResult once.

The notebook's namespace is only read here; the magic copies names back after a success."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from engine import Replay, Variable, functions_of

from . import errors, extras, own, surprises
from .errors import CellError
from .execute import ENGINE_NAMES, Binding, Recorder, clean_config, execute
from .arrayrules import matrix_chain
from .elements import ElementWalk, element_name, element_rule, named_variables, parse_element
from .extras import Progress
from .forward import forward_modes, hessian_of
from .parser import Program, check_names
from .model import Label, Recording
from .record import graph_notes, record
from .result import GradResult, Row, View


@dataclass(frozen=True)
class Options:
    """What to compute."""

    target: Optional[str] = None
    wrt: Optional[tuple] = None
    order: int = 1
    check: bool = False
    plot: bool = False
    view: View = View()
    mode: str = "reverse"  # 'forward' or 'both': forward mode's tangents beside (or instead of) the backward trace
    hessian: bool = False  # the second derivatives over the scalar inputs, mixed partials included
    engine: str = "auto"  # 'ours': this engine's names hide the notebook's; 'own': the learner's classes must
    # have made the target; 'auto': whichever made it


@dataclass
class _Run:
    """What the helpers below share about one cell's recorded run."""

    program: Program
    options: Options
    recorder: Recorder
    target: Variable
    target_name: str
    labelled: list  # (Binding, Label, is_last) per binding, in the order the cell bound them
    shown: list  # (Binding, Label) per table row
    progress: Progress
    functions: list  # every function the target depends on, nearest first (one walk of the graph)
    graph_variables: list  # the target and every variable it depends on
    made_inside: dict  # Variable made where the cell is not instrumented (a def, a lambda) -> its Label
    own: Optional[own.Mirror] = None  # the learner's own graph, mirrored in this engine

    @property
    def inputs(self) -> list:
        """(name as shown, Binding) per input row."""
        return [(label.name, binding) for binding, label in self.shown if binding.is_input]


def run(program: Program, namespace: Mapping[str, Any], options: Options = Options(),
        progress: Progress = extras.no_progress) -> tuple:
    """Run ``program`` against ``namespace`` (read only); return the GradResult and the cell's scope.

    The cell runs with the engine's default configuration; the notebook's is restored afterwards.
    ``progress(what, done, total)`` hears from the passes that take long.
    """
    result, scope, _ = run_recorded(program, namespace, options, progress)
    return result, scope


@dataclass(frozen=True)
class Recorded:
    """What the --step view needs of a recorded run to show it again at other input values."""

    target: Variable
    target_name: str
    label: Any  # Variable -> Label or None, as the cell names its variables
    line: Any  # lineno -> the cell's source line
    inputs: tuple  # (name as shown, Variable) per input row
    tested_lines: tuple  # lines that compared values: a replay keeps the branches they chose
    view: View
    recording: Recording  # what the ordinary backward pass did
    unused: tuple  # the names of the inputs with no path to the target


def run_recorded(program: Program, namespace: Mapping[str, Any], options: Options = Options(),
                 progress: Progress = extras.no_progress) -> tuple:
    """``run``, and the Recorded run as well: (GradResult, scope, Recorded)."""
    check_names(program, set(namespace) | set(ENGINE_NAMES))
    with clean_config():
        recorder, scope = execute(program, namespace, ours=options.engine == "ours")
        cell = _recorded(program, options, recorder, scope, progress)
        # The graph may hold the notebook's own Variables (reached through a list, say): if anything
        # below fails, their gradients go back to what they were, so a failing cell changes nothing.
        saved = [(v, v.grad) for v in cell.graph_variables]
        try:
            result, recording = _differentiate(cell)
        except BaseException as error:
            for variable, grad in saved:
                variable.grad = grad
            if cell.own is not None:
                own.restore(cell.own)
                if isinstance(error, CellError):  # the cell ran, the walk of the learner's graph failed
                    error.scope = scope
            raise
    recorded = Recorded(cell.target, cell.target_name, _labeller(cell), program.line,
                        tuple((name, binding.variable) for name, binding in cell.inputs),
                        tuple(sorted(recorder.tested_lines)), options.view, recording,
                        tuple(row.name for row in result.rows if row.is_input and row.grad is None))
    return result, scope, recorded


def _recorded(program: Program, options: Options, recorder: Recorder, scope: dict, progress: Progress) -> _Run:
    """The target and the rows of the recorded run, or the CellError that says why there are none."""
    target_name = options.target if options.target is not None else recorder.last_bound or program.last_assigned
    found = _own_graph(program, options, recorder, scope, target_name)
    target = _find_target(program, scope if found is None else {**scope, target_name: found.target}, target_name,
                          recorder)
    labelled = _bindings(recorder)
    functions = list(functions_of(target))
    variables = [target] + [x for f in functions for x in f.inputs]
    named = {binding.variable: label for binding, label, _ in labelled}
    cell = _Run(program, options, recorder, target, target_name, labelled,
                _select_inputs(_rows(labelled), options.wrt), progress, functions, variables,
                _made_inside(functions, named, recorder.labels), found)
    _require_inputs(cell)
    if options.plot:
        _require_plottable(cell)
    return cell


def _own_graph(program: Program, options: Options, recorder: Recorder, scope: dict,
               name: Optional[str]) -> Optional[own.Mirror]:
    """The learner's graph under the target, mirrored (own.py), with the cell's bindings and labels
    pointing at the mirror; None when this engine made the target."""
    value = scope.get(name) if name in program.assigned else None
    lineno = _last_line(program, name) if name else None
    if own.lacks_creator(value):
        raise CellError(f"the target '{name}' is your own {type(value).__name__}, which has no .creator: %%grad "
                        "follows creator links from the target back to the inputs (the book's step 7 adds them, "
                        "with set_creator)", lineno, program.line(lineno),
                        "add creator links to your Variable and Function, or run the cell on this engine with "
                        "%%grad --engine ours", category="target")
    if not own.is_variable(value):
        if options.engine == "own" and isinstance(value, Variable):
            raise CellError(f"--engine own: the target '{name}' was made by this engine's functions, not by "
                            "classes from this notebook", lineno, program.line(lineno),
                            "define your own Variable and Function classes in the notebook first, or drop "
                            "--engine own", category="option")
        return None
    found = own.mirror(value)
    for binding in recorder.bindings:
        if not isinstance(binding.variable, Variable):
            binding.variable = found.adopt(binding.variable)
    for theirs, label in recorder.own_labels.values():
        ours = found.ours(theirs)
        if ours is not None and ours not in recorder.labels:
            recorder.labels[ours] = label
    recorder.mark_repeated_labels()
    return found


def _differentiate(cell: _Run) -> tuple:
    """The ordinary backward, recorded, from a clean slate; then the extra passes: (GradResult, Recording)."""
    target, name = cell.target, cell.target_name
    notes = []
    if target.data.ndim:
        notes.append(f"{name} is not a scalar (shape {target.data.shape}): it was seeded with ones, "
                     f"so each gradient is that of sum({name})")
    label = _labeller(cell)
    # a backward() the cell ran itself must not add to ours, nor show where ours gives none
    left = {label.name: _array(binding.variable.grad) for binding, label in cell.shown
            if binding.variable.grad is not None}  # what the cell's own backward() left, to compare
    for variable in cell.graph_variables:
        variable.grad = None
    for binding, _, _ in cell.labelled:
        binding.variable.grad = None
    inputs = [(name, binding.variable) for name, binding in cell.inputs]
    try:
        recording = record(target, label, cell.program.line, inputs, cell.functions)
    except (Exception, KeyboardInterrupt) as error:  # e.g. a user Function whose backward fails
        raise errors.from_backward(cell.program.lines, error, label) from error
    rows = tuple(_row(binding, label) for binding, label in cell.shown)
    grads = {row.name: row.grad for row in rows if row.grad is not None}
    why = []  # explanations of surprising gradients, under the table
    if cell.own is not None:
        why.extend(_own_notes(cell, own.write_back(cell.own), label))
        if len(recording.checks) < len(recording.steps):
            notes.append(f"{len(recording.checks):,} of the {len(recording.steps):,} steps of your backward were "
                         f"checked: those within {own.MAX_CHECKED_GENERATIONS:,} generations of the target (a check "
                         "runs your forward about ten times); the rest ran unchecked")
    else:
        why.extend(surprises.accumulated_note([(row.name, left[row.name], row.grad) for row in rows
                                               if row.name in left and row.grad is not None
                                               and not _same(left[row.name], row.grad)], name, *_backward_calls(cell)))
    why.extend(surprises.kink_notes(cell.functions, label))
    why.extend(surprises.vanishing_notes(recording.steps, rows, name))
    extra, extra_notes = _extra_passes(cell, grads, recording)
    notes.extend(_conversion_notes(cell.recorder))
    notes.extend(list(recording.notes) + extra_notes)
    notes.extend(_non_finite(rows))
    if cell.own is not None:
        extra.update(own_classes=cell.own.classes, own_check=recording.checks)
    result = GradResult(target=name, rows=rows, steps=recording.steps, values={row.name: row.value for row in rows},
                        grads=grads, paths=recording.rules, notes=tuple(notes), explanations=tuple(why),
                        view=cell.options.view,
                        check_tolerance=extras.CHECK_RTOL, **extra)
    return result, recording


def _extra_passes(cell: _Run, grads: dict, recording: Recording) -> tuple:
    """(GradResult fields, notes) of --order, --check, --graph and --plot."""
    options, target, inputs = cell.options, cell.target, cell.inputs
    fields: dict = {}
    notes: list = []
    with np.errstate(all="ignore"):
        if options.order > 1:
            fields["derivatives"], more = extras.higher_derivatives(target, cell.target_name, inputs, options.order,
                                                                    cell.progress)
            notes += more
        replay = Replay(target) if options.check or options.plot else None
        if options.check:
            check, more = extras.numerical_check(replay, inputs, grads, cell.progress)
            fields.update(numerical=check.numerical, check=check.errors, check_passed=check.passed)
            notes += more
        if options.check or options.plot:
            what = "--check" if options.check else "--plot"
            notes += extras.replay_notes(cell.recorder.tested_lines, what)
        asked = [parse_element(name) for name in options.wrt or () if parse_element(name)]
        if asked:
            fields["elements"], more = _element_rules(cell, grads, asked)
            notes += more
        arrays = [name for name in options.wrt or () if np.ndim(grads.get(name, 0)) > 0]
        if arrays and not np.ndim(target.data):
            fields["matrices"] = tuple((name, matrix_chain(recording.steps, cell.target_name, name)) for name in arrays)
        if options.mode != "reverse":
            bindings = [(label, binding.variable, binding.is_input, binding.expression)
                        for binding, label, _ in cell.labelled]
            modes = forward_modes(target, cell.target_name, bindings,
                                  [(name, binding.variable) for name, binding in inputs], _labeller(cell), grads)
            fields.update(modes=modes, tangents=modes.tangents)
            notes += modes.notes
        if options.hessian:
            second, more = hessian_of(target, cell.target_name, [(name, b.variable) for name, b in inputs])
            if second is not None:
                fields.update(second=second, hessian=second.as_dict())
            notes += more
        if options.view.graph:
            fields["graph"] = recording.graph
            notes += graph_notes(recording)
        if options.plot:
            fields["plot_png"] = extras.plot(replay, cell.target_name, target.data, inputs, grads)
    return fields, notes


def _element_rules(cell: _Run, grads: dict, asked: list) -> tuple:
    """(ElementRules, notes) for the elements asked for with --wrt, each checked against its array first."""
    variables = {label.name: binding.variable for binding, label in cell.shown}
    named = named_variables(cell.graph_variables, _labeller(cell), cell.target, cell.target_name)
    walk = ElementWalk(cell.target, named)
    rules, notes = [], []
    for name, index in asked:
        shape = np.shape(variables[name].data)
        if len(index) != len(shape) or not all(-n <= i < n for i, n in zip(index, shape)):
            raise CellError(f"--wrt: {element_name(name, index)} is not an element of {name}, whose shape is {shape}",
                            hint=f"an index per axis, within the shape: e.g. --wrt \"{element_name(name, (0,) * len(shape))}\""
                            if shape else f"{name} is a single number: --wrt {name}", category="option")
        if np.ndim(cell.target.data):
            notes.append(f"--wrt {element_name(name, index)}: the element's chain rule is written for a target that "
                         f"is a single number; {cell.target_name} has shape {np.shape(cell.target.data)}")
            continue
        index = tuple(i % n for i, n in zip(index, shape))
        rules.append(element_rule(cell.target, named, name, variables[name], index, grads.get(name), walk))
    return tuple(rules), notes


def _own_notes(cell: _Run, differed: list, label: Any) -> list:
    """Notes on the learner's graph: where the cell's own backward left other gradients than the walk's."""
    named = []
    for theirs, before, after in differed:
        shown = label(cell.own.ours(theirs))
        named.append((shown.name if shown is not None else "a variable", before, after))
    return surprises.accumulated_note(named, cell.target_name, *_backward_calls(cell))


def _backward_calls(cell: _Run) -> tuple:
    """(how many times the cell called backward(), whether each was on the target)."""
    calls = cell.recorder.backward_calls
    target = cell.own.target if cell.own is not None else cell.target
    ours = [cell.own.ours(v) if cell.own is not None else v for v in calls]
    return len(calls), all(v is target for v in ours)


def _array(grad: Any) -> np.ndarray:
    return np.array(grad.data if isinstance(grad, Variable) else grad, dtype=float)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True))


def _conversion_notes(recorder: Recorder) -> list:
    return _lines_note(recorder.converted_lines, "{which} a Variable into a plain number with float() or int(): "
                       "no gradient flows through that number", ("turns", "turn")) + \
        _lines_note(recorder.data_lines, "{which} a Variable to .data, which holds a plain array: its value was used, as "
                    "the plain engine computes it (no gradient flows through a .data update); the backward pass after "
                    "the cell reads .data as the cell left it", ("gives", "give"))


def _lines_note(lines: set, text: str, verbs: tuple) -> list:
    """The note ``text`` about the cell's ``lines`` ('line 3 turns', 'lines 2, 3 turn'), or none."""
    if not lines:
        return []
    numbers = ", ".join(str(n) for n in sorted(lines))
    which = f"line {numbers} {verbs[0]}" if len(lines) == 1 else f"lines {numbers} {verbs[1]}"
    return [text.format(which=which)]


def _find_target(program: Program, scope: dict, name: Optional[str], recorder: Recorder) -> Variable:
    if name is None:
        raise CellError("the cell assigns no variable to differentiate", hint="end it with e.g. y = square(x)",
                        category="target")
    base, mark, _ = name.partition("#")
    if mark and base in program.assigned:
        raise CellError(f"--target '{name}' is an earlier binding of {base}; --target takes a name, and the target "
                        "is its last binding", hint=f"give that value a name of its own, e.g. {base}_first = ..., "
                        f"and use --target {base}_first", category="option")
    if name not in program.assigned:
        assigned = ", ".join(program.assigned) or "nothing"
        raise CellError(f"unknown --target '{name}'", hint=f"the cell assigns: {assigned}", category="option")
    value = scope.get(name)
    deleted = [lineno for deleted_name, lineno in program.deletions if deleted_name == name]
    if name not in scope and deleted:
        raise CellError(f"the target '{name}' no longer exists: this line deletes it", deleted[-1],
                        program.line(deleted[-1]), "remove the del, or choose another name with --target",
                        category="target")
    if not isinstance(value, Variable):
        lineno = _last_line(program, name)
        _raise_for_non_numbers(program, recorder, lineno)
        raise CellError(f"the target '{name}' is a {type(value).__name__}, not a real number or a numeric array",
                        lineno, program.line(lineno), category="target")
    return value


def _raise_for_non_numbers(program: Program, recorder: Recorder, lineno: Optional[int]) -> None:
    """If line ``lineno`` used a value that cannot be an input, that is the mistake to report."""
    name = errors.named_on_line(program.line(lineno), recorder.non_numbers)
    if name is not None:
        raise errors.non_number_error(program.lines, name, recorder.non_numbers[name], lineno)


def _last_line(program: Program, name: str) -> Optional[int]:
    lines = [a.lineno for a in program.assignments if a.name == name]
    return lines[-1] if lines else None


def _bindings(recorder: Recorder) -> list:
    """(Binding, Label) per binding; a name bound several times is 'y' last and 'y#k' before."""
    totals: dict = {}
    for binding in recorder.bindings:
        totals[binding.name] = totals.get(binding.name, 0) + 1
    seen: dict = {}
    labelled = []
    for binding in recorder.bindings:
        seen[binding.name] = seen.get(binding.name, 0) + 1
        is_last = seen[binding.name] == totals[binding.name]
        shown = binding.name if is_last else f"{binding.name}#{seen[binding.name]}"
        labelled.append((binding, Label(shown, binding.lineno), is_last))
    return labelled


def _rows(labelled: list) -> list:
    """The bindings shown as rows: the last binding of each name, and every input."""
    return [(binding, label) for binding, label, is_last in labelled if is_last or binding.is_input]


def _labeller(cell: _Run) -> Any:
    """Variable -> Label: its name if the cell bound it, else the source text that made it."""
    by_variable: dict = {}
    for binding, label, _ in cell.labelled:
        by_variable.setdefault(binding.variable, label)  # an alias (y = x) keeps its first name
    operations, made_inside = cell.recorder.labels, cell.made_inside

    def label(variable: Variable) -> Optional[Label]:
        if variable in by_variable:
            return by_variable[variable]
        if variable in operations:
            return operations[variable]
        if variable.name is not None:
            return Label(variable.name, None)
        return made_inside.get(variable)  # None: a literal constant

    return label


def _made_inside(functions: list, named: dict, operations: dict) -> dict:
    """Labels for the results made inside a def or a lambda the cell calls, which no hook sees:
    'sin(…) in neuron(x)', by their function and the cell's text of the call they are part of
    (numbered 'sin(…) [2] in neuron(x)' when one call makes several). One pass, nearest first."""
    anchors: dict = {}  # Variable -> the Label of the cell's expression it is part of
    for func in functions:  # nearest the target first: a function's output is seen before its inputs
        for x in func.inputs:
            if x.creator is None or x in operations or x in named or x.name is not None or x in anchors:
                continue  # the common case: a leaf, or labelled by a hook
            output = next((y for y in (ref() for ref in func.outputs) if y is not None), None)
            anchors[x] = operations.get(output) or named.get(output) or anchors.get(output)
    by_text: dict = {}
    for x in sorted(anchors, key=lambda v: v.generation):  # in the order they were made
        if anchors[x] is not None:
            by_text.setdefault((type(x.creator).__name__.lower(), anchors[x]), []).append(x)
    labels = {}
    for (kind, anchor), made in by_text.items():
        for k, x in enumerate(made, 1):
            mark = f" [{k}]" if len(made) > 1 else ""
            labels[x] = Label(f"{kind}(…){mark} in {anchor.name}", anchor.lineno)
    return labels


def _require_inputs(cell: _Run) -> None:
    program, target, name = cell.program, cell.target, cell.target_name
    inputs = {binding.variable for binding, _ in cell.shown if binding.is_input}
    if target.creator is not None and any(v in inputs for v in cell.graph_variables if v.creator is None):
        return
    lineno = _last_line(program, name)
    _raise_for_non_numbers(program, cell.recorder, lineno)
    later = [line for line in program.bare_lines if lineno is None or line > lineno]
    if target.creator is None and later:  # `square(x)` on its own: the result was never named
        raise CellError(f"the result on line {later[-1]} is not assigned to a name, so the target is the input "
                        f"'{name}'", later[-1], program.line(later[-1]), "assign it, e.g. y = square(x)",
                        category="target")
    _refuse_an_input_target(cell, lineno)
    raise CellError(f"'{name}' does not depend on any input", lineno, program.line(lineno),
                    "assign a number to a name (x = 0.5) and compute the target from it "
                    "with the engine's functions (sin, exp, ...), not numpy's", category="target")


def _refuse_an_input_target(cell: _Run, lineno: Optional[int]) -> None:
    """The target is an input itself (x, or y = x): say so, and name a target computed from inputs."""
    name, target = cell.target_name, cell.target
    shown = [label.name for binding, label, _ in cell.labelled if binding.variable is target and binding.is_input]
    if target.creator is not None or not shown:
        return
    what = "an input itself" if shown[0] == name else f"the input '{shown[0]}' itself"
    chosen = "" if cell.options.target is not None else " (the last name the cell assigns)"
    computed = [label.name for binding, label, is_last in cell.labelled if is_last and binding.variable.creator]
    if computed:
        hint = f"choose a target computed from inputs, e.g. --target {computed[-1]}"
    elif "np." in cell.program.line(lineno):
        hint = ("numpy's functions give plain numbers, and a number bound to a name is an input: compute the "
                "target from an input with the engine's functions (sin, exp, ...)")
    else:
        hint = f"compute the target from it, e.g. y = sin({shown[0]})"
    raise CellError(f"the target '{name}'{chosen} is {what}: its gradient with respect to itself is 1", lineno,
                    cell.program.line(lineno), hint, category="target")


def _require_plottable(cell: _Run) -> None:
    """--plot's scalar target and one scalar input, or the CellError that says which is missing."""
    target, name = cell.target, cell.target_name
    if target.data.ndim:
        raise CellError(f"--plot needs a scalar target; '{name}' has shape {target.data.shape}",
                        hint=f"make the target a number, e.g. s = sum({name})", category="option")
    scalars = [label for label, binding in cell.inputs if binding.variable.data.ndim == 0]
    if not scalars:
        arrays = ", ".join(f"{label} (shape {binding.variable.data.shape})" for label, binding in cell.inputs)
        whose = "the inputs chosen with --wrt" if cell.options.wrt else "this cell's inputs"
        raise CellError(f"--plot needs a scalar input to vary, and {whose} are arrays: {arrays}", category="option")
    if len(scalars) > 1:
        raise CellError(f"--plot needs one scalar input; the cell has {len(scalars)}: {', '.join(scalars)}",
                        hint=f"choose one with --wrt, e.g. --wrt {scalars[0]}", category="option")


def _row(binding: Binding, label: Label) -> Row:
    v = binding.variable
    grad = None if v.grad is None else np.array(v.grad.data if isinstance(v.grad, Variable) else v.grad)
    return Row(label.name, binding.lineno, binding.expression, np.array(v.data), grad, binding.is_input)


def _select_inputs(rows: list, wrt: Optional[tuple]) -> list:
    """Keep every row but the inputs not named in ``wrt`` (an element, 'W1[0,1]', names W1)."""
    if wrt is None:
        return rows
    wrt = tuple((parse_element(name) or (name,))[0] for name in wrt)
    inputs = [label.name for binding, label in rows if binding.is_input]
    unknown = [name for name in wrt if name not in inputs]
    if unknown:
        raise CellError(f"--wrt: '{unknown[0]}' is not an input of the cell", hint=f"the inputs are: {', '.join(inputs)}",
                        category="option")
    return [(binding, label) for binding, label in rows if not binding.is_input or label.name in wrt]


def _non_finite(rows: tuple) -> list:
    """A note per row whose value or gradient holds nan or inf."""
    notes = []
    for row in rows:
        for what, array in (("value", row.value), ("gradient", row.grad)):
            if array is not None and not np.all(np.isfinite(array)):
                where = f" (line {row.lineno})" if row.lineno else ""
                notes.append(f"⚠ the {what} of {row.name}{where} holds nan or inf")
    return notes
