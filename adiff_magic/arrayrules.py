"""An array step's backward in matrix form, in the cell's own letters and shapes: ``dloss/dW1 = xᵀ @ G:
(2, 1) @ (1, 3) → (2, 3)``, where G is the gradient that came into the step. Elementwise functions
reuse their scalar templates (``G ⊙ (1 - h²)``); matmul, sums, reshapes, transposes, broadcasts and
indexing each have their own form; an input that was broadcast says so, and how its gradient is
summed back. A pure function of a recorded step: it computes nothing, it writes what the step did."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import re

import numpy as np

from .fmt import NAMED, fill_template, fmt_short, operand_letters

if TYPE_CHECKING:
    from .model import BackwardStep, Flow, Operands

CONSTANT = "c"  # an operand the cell did not name (a literal array)
BROADCAST = "{name} {shape} was broadcast to {out}; its gradient is summed over {axes} back to {shape}"


def matrix_form(step: "BackwardStep", flow: "Flow", digits: int = 6) -> Optional[tuple]:
    """(formula, shapes) of one flow of an array step, e.g. ('xᵀ @ G', '(2, 1) @ (1, 3) → '), the shapes
    written before the result's own; None where the step has no matrix form (the rule is then given)."""
    ops = step.operands
    if ops is None or flow.position is None or ops.output_shape is None or flow.position >= len(ops.shapes):
        return None
    writer = _WRITERS.get(step.function)
    if writer is not None:
        return writer(ops, flow.position)
    if step.function in _OF_OUTPUT:  # written with the output's name (softmax: y ⊙ (G − Σ G ⊙ y))
        return _OF_OUTPUT[step.function](ops, flow.position, step.output)
    if ops.templates and flow.position < len(ops.templates):
        return _elementwise(ops, flow.position, ops.templates[flow.position], digits, step.output)
    return None


def broadcast_note(step: "BackwardStep", flow: "Flow", name: str, sentence: str = BROADCAST) -> Optional[str]:
    """'b1 (3,) was broadcast to (1, 3); its gradient is summed over axis 0 back to (3,)', for an input
    of an elementwise step (or broadcast_to) whose shape is not the output's; None otherwise.
    ``sentence`` is the words, over {name}, {shape}, {out} and {axes}."""
    ops = step.operands
    if ops is None or flow.position is None or ops.output_shape is None or flow.position >= len(ops.shapes):
        return None
    if (step.function in _WRITERS or step.function in _OF_OUTPUT) and step.function != "BroadcastTo":
        return None
    shape, out = tuple(ops.shapes[flow.position]), tuple(ops.output_shape)
    axes = summed_axes(shape, out) if shape != out else None
    if not axes:
        return None
    listed = ("axis " if len(axes) == 1 else "axes ") + ", ".join(str(a) for a in axes)
    return sentence.format(name=name, shape=_shape(shape), out=_shape(out), axes=listed)


def summed_axes(shape: tuple, out: tuple) -> Optional[tuple]:
    """The axes of ``out`` that a gradient is summed over to come back to ``shape`` (numpy's broadcasting
    rules), or None if ``shape`` does not broadcast to ``out``."""
    lead = len(out) - len(shape)
    if lead < 0:
        return None
    axes = list(range(lead))
    for j, size in enumerate(shape):
        if size != out[lead + j]:
            if size != 1:
                return None
            axes.append(lead + j)
    return tuple(axes)


def _shape(shape: Any) -> str:
    return str(tuple(shape))


def _name(ops: "Operands", i: int) -> str:
    name = ops.names[i]
    if name is None:
        return operand_letters(None, ops.constants[i], 6) if i in ops.constants else CONSTANT
    return operand_letters(name, None, 6)


def _summed(formula: str, shape: tuple, out: tuple) -> str:
    """``formula`` summed back to ``shape`` from ``out``, numpy-style: '(G ⊙ b).sum(axis=0)'."""
    axes = summed_axes(tuple(shape), tuple(out))
    if not axes:
        return formula
    held = formula if formula == "G" or formula.startswith("(") and formula.endswith(")") else f"({formula})"
    lead = len(out) - len(shape)
    if all(a < lead for a in axes):
        return f"{held}.sum()" if len(shape) == 0 else f"{held}.sum(axis={_axes(axes)})"
    if lead == 0:
        return f"{held}.sum(axis={_axes(axes)}, keepdims=True)"
    return f"sum_to({formula}, {_shape(shape)})"


def _axes(axes: tuple) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


def _elementwise(ops: "Operands", i: int, template: str, digits: int, output: str) -> tuple:
    """G times the scalar local derivative, element by element; summed back where the input was broadcast."""
    if template == "1":
        formula = "G"
    elif template == "-1":
        formula = "−G"
    else:
        placeholders = ("x",) if len(ops.names) == 1 else ("a", "b")
        names = {key: _name(ops, j) for j, key in enumerate(placeholders)}
        names["y"] = operand_letters(output, None, 6) if output else "y"
        numbers = {key: 0.0 for key in (*placeholders, "y")}
        numbers.update({k: v for k, v in ops.fields.items() if np.ndim(v) == 0 and not isinstance(v, (bool, str))})
        local = fill_template(template, names, numbers, digits)
        formula = f"G ⊙ {local}" if _simple(local) else f"G ⊙ ({local})"
    return _summed(formula, ops.shapes[i], ops.output_shape), ""


def _simple(text: str) -> bool:
    """A factor that needs no parentheses after ⊙: no sum, difference or quotient outside parentheses."""
    depth, top = 0, []
    for char in text:
        depth += char in "([" and 1 or char in ")]" and -1 or 0
        top.append(char if depth == 0 else "_")
    flat = "".join(top)
    return not any(op in flat for op in (" + ", " - ", "/", " − "))


def _matmul(ops: "Operands", i: int) -> Optional[tuple]:
    a, b = (tuple(s) for s in ops.shapes)
    out = tuple(ops.output_shape)
    if len(a) != 2 or len(b) != 2:
        return None
    if i == 0:
        return f"G @ {_name(ops, 1)}ᵀ", f"{_shape(out)} @ {_shape(b[::-1])} → "
    return f"{_name(ops, 0)}ᵀ @ G", f"{_shape(a[::-1])} @ {_shape(out)} → "


def _sum(ops: "Operands", i: int) -> tuple:
    return f"broadcast_to(G, {_shape(ops.shapes[0])})", f"{_shape(ops.output_shape)} → "


def _mean(ops: "Operands", i: int) -> tuple:
    n = int(np.prod(ops.shapes[0])) // max(int(np.prod(ops.output_shape)), 1)
    return f"broadcast_to(G, {_shape(ops.shapes[0])}) / {n}", f"{_shape(ops.output_shape)} → "


def _reshape(ops: "Operands", i: int) -> tuple:
    return f"G.reshape{_shape(ops.shapes[0])}", f"{_shape(ops.output_shape)} → "


def _transpose(ops: "Operands", i: int) -> tuple:
    axes = ops.fields.get("axes")
    if axes is None or tuple(axes) == tuple(reversed(range(len(axes)))):
        return "Gᵀ", f"{_shape(ops.output_shape)} → "
    inverse = tuple(int(k) for k in np.argsort(axes))
    return f"G.transpose{inverse}", f"{_shape(ops.output_shape)} → "


def _broadcast_to(ops: "Operands", i: int) -> tuple:
    return _summed("G", ops.shapes[0], ops.output_shape), f"{_shape(ops.output_shape)} → "


def _sum_to(ops: "Operands", i: int) -> tuple:
    return f"broadcast_to(G, {_shape(ops.shapes[0])})", f"{_shape(ops.output_shape)} → "


def _get_item(ops: "Operands", i: int) -> tuple:
    index = index_text(ops.fields.get("index"))
    return f"zeros{_shape(ops.shapes[0])} with G added at [{index}]", f"{_shape(ops.output_shape)} → "


def _extreme(word: str) -> Callable:
    def write(ops: "Operands", i: int) -> tuple:
        return f"G where {_name(ops, 0)} is the {word}, else 0", f"{_shape(ops.output_shape)} → "
    return write


def _softmax(ops: "Operands", i: int, output: str) -> tuple:
    axis = ops.fields.get("axis", -1)
    y = operand_letters(output, None, 6) if output else "y"
    return f"{y} ⊙ (G − (G ⊙ {y}).sum(axis={axis}, keepdims=True))", ""


def _log_softmax(ops: "Operands", i: int, output: str) -> tuple:
    axis = ops.fields.get("axis", -1)
    y = operand_letters(output, None, 6) if output else "y"
    return f"G − e^{y} ⊙ G.sum(axis={axis}, keepdims=True)", ""


def index_text(index: Any) -> str:
    """An index as the cell would write it inside brackets: '0, 1:3', '..., 2', '[0 2]' (short)."""
    parts = index if isinstance(index, tuple) else (index,)
    return ", ".join(_index_part(p) for p in parts)


def _index_part(part: Any) -> str:
    if isinstance(part, slice):
        text = ":".join("" if v is None else str(v) for v in (part.start, part.stop, part.step))
        return text[:-1] if text.endswith(":") and part.step is None else text
    if part is Ellipsis:
        return "..."
    if part is None:
        return "None"
    if np.ndim(part) == 0:
        return str(part)
    values = np.asarray(part).ravel()
    shown = ", ".join(fmt_short(v) for v in values[:6]) + (", …" if values.size > 6 else "")
    return f"[{shown}]"


_WRITERS = {"MatMul": _matmul, "Sum": _sum, "Mean": _mean, "Reshape": _reshape, "Transpose": _transpose,
            "BroadcastTo": _broadcast_to, "SumTo": _sum_to, "GetItem": _get_item,
            "Max": _extreme("maximum"), "Min": _extreme("minimum")}
_OF_OUTPUT = {"Softmax": _softmax, "LogSoftmax": _log_softmax}


MAX_EQUATIONS = 8  # a matrix chain longer than this is left to the trace (the note says so)


def matrix_chain(steps: tuple, target: str, name: str) -> Optional[list]:
    """The gradient of the array input ``name`` as equations in matrix form through the cell's named
    variables, from the input up ('dloss/dW1', 'xᵀ @ (dloss/dh ⊙ (1 - h²))', shape), then each named
    gradient it uses, down to the target's seed. None where an array it passes through is used more
    than once (its gradient is a sum: the trace shows each part), or a step has no matrix form."""
    uses: dict = {}
    for step in steps:
        for flow in step.flows:
            uses.setdefault(flow.input, []).append((step, flow))
    equations, todo, seen = [], [name], set()
    while todo:
        label = todo.pop(0)
        if label in seen:
            continue
        seen.add(label)
        written = _gradient_of(label, uses, target, todo)
        if written is None or len(equations) >= MAX_EQUATIONS:
            return None
        equations.append((label, *written))
    return equations


def _gradient_of(label: str, uses: dict, target: str, named: list) -> Optional[tuple]:
    """(formula, shape) of d(target)/d(label): the sum over its uses of each use's formula, in the
    gradients of the named variables they feed (added to ``named``); unnamed intermediates substituted."""
    found = uses.get(label, [])
    if not found or len(found) > MAX_USES:
        return None
    parts = []
    for step, flow in found:
        part = _use(step, flow, uses, target, named)
        if part is None:
            return None
        parts.append(part)
    return " + ".join(parts).replace(" + −", " − "), np.shape(found[0][1].total)


MAX_USES = 4  # a variable used more often than this is left to the trace


def _use(step: "BackwardStep", flow: "Flow", uses: dict, target: str, named: list) -> Optional[str]:
    """One use's formula, its G replaced by the gradient of the step's output."""
    formula = _formula(step, flow)
    if formula is None:
        return None
    output = step.output
    if output == target:
        incoming = "1"
    elif NAMED.fullmatch(output):
        incoming = f"d{target}/d{output}"
        named.append(output)
    else:
        inner = _gradient_of(output, uses, target, named)
        if inner is None:
            return None
        incoming = inner[0]
    number = re.fullmatch(r"[−\-\d./]+", incoming) is not None  # '1', '−1/3': '(1).sum()', not '1.sum()'
    if formula == "G":
        return incoming
    if formula == "−G" and number:
        return incoming[1:] if incoming.startswith("−") else f"−{incoming}"
    if formula.startswith("G ⊙ "):  # a number spread by a sum or mean, times an array of that shape: the number
        spread = re.fullmatch(r"\(?broadcast_to\(([−\-\d./()]+), \([\d, ]*\)\)(?: / (\d+))?\)?", incoming)
        factor = incoming if number else None if spread is None else _over(_bare(spread.group(1)), spread.group(2))
        if factor is not None:
            return formula[len("G ⊙ "):] if factor == "1" else f"{factor} ⊙ {formula[len('G ⊙ '):]}"
    held = incoming if _atomic(incoming) and not number else f"({incoming})"
    return re.sub(r"(?<![A-Za-z0-9_.])G(?![A-Za-z0-9_])", lambda _: held, formula)  # Gᵀ too


def _bare(number: str) -> str:
    """'(1)' -> '1', '−(1/2)' -> '−1/2': a number without its parentheses."""
    sign = "−" if number.startswith("−") else ""
    return sign + number.lstrip("−").strip("()")


def _over(number: str, n: Optional[str]) -> str:
    """``number`` divided by the count ``n`` of a mean, written as one fraction ('−1/3')."""
    if not n or n == "1":
        return number
    return f"{number}/{n}" if "/" not in number else f"{number} / {n}"


def _formula(step: "BackwardStep", flow: "Flow") -> Optional[str]:
    """The step's formula in G for this flow: its matrix form, or for numbers G times the local derivative."""
    if step.operands is not None:
        form = matrix_form(step, flow)
        return form[0] if form is not None else None
    local = flow.local
    if local is None or not local.template:
        return None
    names = {key: operand_letters(value, local.numbers.get(key), 6) for key, value in local.names.items()}
    factor = fill_template(local.template, names, local.numbers, 6)
    return {"1": "G", "-1": "−G"}.get(factor, f"G ⊙ {factor}" if _simple(factor) else f"G ⊙ ({factor})")


def _atomic(text: str) -> bool:
    """No space outside parentheses: it needs none around it inside a formula."""
    depth = 0
    for char in text:
        depth += 1 if char in "([" else -1 if char in ")]" else 0
        if depth == 0 and char == " ":
            return False
    return True
