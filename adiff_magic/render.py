"""Pure functions from a GradResult to text, HTML and mermaid: the same information in each.

The HTML has no <script>, no <style> and no inline var(--jp-...) styles: JupyterLab strips them
from untrusted notebooks. Plain tables with classes are themed by JupyterLab in light and dark."""
from __future__ import annotations

import math
import re
import shutil
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .arrayrules import broadcast_note, matrix_form
from .elements import ELEMENT, MAX_PATHS as MAX_ELEMENT_PATHS
from .fmt import NAMED, OPERAND, display_width, fmt_array, fmt_number, fmt_short, grid, short, wrap
from .layout import LEFT, column_widths, escape as _e, factor, html_block, html_cell, local_parts, stacked, summarised, \
    table_line, table_width
from . import modes
from .model import Graph, GraphEdge, GraphNode


if TYPE_CHECKING:
    from .result import GradResult, Row
    from .trace import BackwardStep, Flow

from .trace import NO_RULE

TRACE_HEAD = 12  # a longer trace shows its first and last TRACE_HEAD steps, and says so
TRACE_LIMIT = 2 * TRACE_HEAD + 6
TABLE_HEAD = 12  # a longer table shows its first and last TABLE_HEAD rows, and says so
TABLE_LIMIT = 2 * TABLE_HEAD + 6

WORDS = {
    "en": {
        "value": "value", "grad": "d{t}/d(name)", "line": "line", "made by": "made by",
        "trace": "backward trace, {n:,} step{s} in the order the engine ran them",
        "legend": "each step: creator, inputs, backward(incoming); per input: local ∂, then d = incoming × local",
        "legend arrays": "array steps: G = gradient of the step's output; per input d = formula in G "
                         "(⊙ elementwise): shapes, values",
        "broadcast": "{name} {shape} was broadcast to {out}; its gradient is summed over {axes} back to {shape}",
        "legend full": "each step: take the function that made the variable (creator), take its input, "
                       "call its backward: passes = incoming × local",
        "inputs": "inputs", "creator": "creator", "input": "input", "incoming": "incoming", "rule": "rule",
        "local": "local", "passes": "passes", "notebook": "from the notebook",
        "more": "… {n:,} more steps not shown (all are in result.steps) …",
        "paths": "chain rule: each path from the input to the target multiplies its local derivatives; paths add up",
        "matrices": "chain rule for arrays, in matrix form through the named variables (⊙ elementwise; each "
                    "gradient's shape after it)",
        "no matrices": "d{t}/d{name} is not written in matrix form here (a step on its way has none, or a "
                       "variable is used more than 4 times, or the chain passes 8 named lines): the trace shows "
                       "each step",
        "no element path": "no path of nonzero partial derivatives leads from it to {t}",
        "elements": "chain rule for an element: each path through the elements it touches multiplies the partial "
                    "derivatives of the cell's named lines, element by element; paths add up",
        "named": "(written through the named variables: ∂{out}/∂{inp} is the derivative of {out}'s line "
                 "with respect to {inp}, summed over the paths inside that line)",
        "one input": "input",
        "too many paths": "{total}, the sum over {n} paths: too many to write out; the trace shows them adding up",
        "rules left out": "(written for {k:,} of the {n:,} inputs with a path: the names the cell binds last, then "
                          "first bindings (w#1), then the largest |gradient|; result.paths has every input's path count and gradient)",
        "more factors": "(… {n:,} more …)",
        "more rows": "… {n:,} rows not shown (all are in result.rows) …",
        "no path": "— ({t} does not depend on it)",
        "arrays rounded": "(arrays at {d} significant digits; result.rows has every digit, as does --precision 17)",
        "arrays cut": "(arrays at {d} significant digits, and '…' for the rows and columns of large ones left out; "
                      "result.rows has every value)",
        "own classes": "your classes from this notebook: {names}", "why": "why",
        "folded": "(folded, so as not to give the steps away: the stepper below runs them one at a time)",
        "own checked": "your backward, step by step, against incoming × local measured on your forward "
                       "(central differences): {counts}",
        "own first wrong": "✗ first wrong step, {k}: {sentence}",
        "own cannot tell": "? step {k}: cannot tell: {reason}",
        "own follows": "the gradients, the chain rule and the trace follow your backward's numbers, the wrong "
                       "step's included, as your own backward() would",
    },
    "ko": {
        "value": "값 value", "grad": "d{t}/d(name)", "line": "줄 line", "made by": "만든 식 made by",
        "trace": "역전파 기록 backward trace: {n:,}단계 step{s}, 엔진이 실행한 순서 in the order the engine ran them",
        "legend": "각 단계 each step: 1. 함수를 가져온다 (creator)  2. 함수의 입력을 가져온다 (inputs)  "
                  "3. 함수의 backward 메서드를 호출한다: 국소 미분 ∂ (local), d = incoming × local.",
        "matrices": "배열의 연쇄 법칙 chain rule for arrays, 이름 붙은 변수를 거친 행렬 꼴 in matrix form through the named "
                    "variables (⊙ 원소별 elementwise; 기울기의 모양 each gradient's shape after it)",
        "no matrices": "d{t}/d{name}는 행렬 꼴로 쓰지 않음 is not written in matrix form here: a step on its way has none "
                       "(the trace shows each step)",
        "no element path": "{t}까지 0이 아닌 편미분의 경로 없음 no path of nonzero partial derivatives leads from it to {t}",
        "elements": "원소의 연쇄 법칙 chain rule for an element: each path through the elements it touches multiplies "
                    "the partial derivatives of the cell's named lines, element by element; paths add up",
        "legend arrays": "배열 단계 array steps: G = 출력의 기울기 the gradient of the step's output; "
                         "d = G의 식 a formula in G (⊙ 원소별 element by element, ᵀ 전치 transposed): 모양 shapes, 값 values",
        "broadcast": "{name} {shape}는 {out}로 브로드캐스트됨 was broadcast to {out}; 기울기는 {axes}에 대해 합산되어 "
                     "{shape}로 돌아감 its gradient is summed over {axes} back to {shape}",
        "legend full": "각 단계 each step: 1. 함수를 가져온다 (creator)  2. 함수의 입력을 가져온다 (input)  "
                       "3. 함수의 backward 메서드를 호출한다 (passes = incoming × local)",
        "inputs": "입력 inputs", "one input": "입력 input", "creator": "1. 함수 creator", "input": "2. 입력 input",
        "incoming": "3. 들어온 기울기 incoming",
        "rule": "   국소 규칙 rule", "local": "   국소 미분 local", "passes": "   전달 passes",
        "notebook": "노트북에서 from the notebook",
        "more": "… {n:,}단계 생략 more steps not shown (result.steps에 모두 있음) …",
        "paths": "연쇄 법칙 chain rule: 입력에서 목표까지 각 경로의 국소 미분을 곱하고, 경로들을 더한다 "
                 "(each path multiplies its local derivatives; the paths add up)",
        "named": "(이름 있는 변수로 쓴 경로 written through the named variables: ∂{out}/∂{inp}는 {out} 줄의 "
                 "{inp}에 대한 미분 is the derivative of {out}'s line with respect to {inp})",
        "too many paths": "{total}, 경로 {n}개의 합 the sum over {n} paths: too many to write out; "
                          "the trace shows them adding up",
        "rules left out": "({n:,}개 입력 중 {k:,}개만 written for {k:,} of the {n:,} inputs with a path: "
                          "result.paths에 모두 있음 every input's path count and gradient is in result.paths)",
        "more factors": "(… {n:,}개 더 more …)",
        "more rows": "… {n:,}행 생략 rows not shown (result.rows에 모두 있음) …",
        "no path": "— ({t}와 무관 does not depend on it)",
        "arrays rounded": "(배열은 유효숫자 {d}자리 arrays at {d} significant digits; result.rows에 모든 자리가 있음 "
                          "every digit is in result.rows, as with --precision 17)",
        "arrays cut": "(배열은 유효숫자 {d}자리, 큰 배열의 생략된 행과 열은 '…' arrays at {d} significant digits, "
                      "'…' for rows and columns left out; result.rows에 모든 값이 있음 every value is in result.rows)",
        "own classes": "이 노트북의 클래스 your classes from this notebook: {names}", "why": "왜 why",
        "folded": "(접혀 있음 folded: 아래의 단계별 보기가 하나씩 보여 준다 the stepper below runs them one at a time)",
        "own checked": "단계별 backward 검사 your backward, step by step, against incoming × local measured on "
                       "your forward (central differences): {counts}",
        "own first wrong": "✗ 처음 틀린 단계 first wrong step, {k}: {sentence}",
        "own cannot tell": "? {k}단계 step {k}: 판단 불가 cannot tell: {reason}",
        "own follows": "기울기, 연쇄 법칙, 기록은 당신의 backward가 준 값을 따른다 the gradients, the chain rule and "
                       "the trace follow your backward's numbers, the wrong step's included",
    },
}


# ================================================================ text


TEXT_WIDTH = 100  # the width of a notebook's text output; a terminal gives its own


def terminal_width() -> int:
    """The terminal's width in columns (TEXT_WIDTH where there is no terminal, as in a kernel)."""
    return shutil.get_terminal_size((TEXT_WIDTH, 24)).columns


def to_text(result: "GradResult", width: int = TEXT_WIDTH) -> str:
    """The plain-text rendering: aligned table, the chain rule, then the trace; lines past ``width``
    wrap between words (never inside a number)."""
    words = WORDS[result.view.lang]
    above, below = own_lines(result, words)
    parts = [wrap(line, width) for line in above]
    forward = result.view.mode == "forward" and result.modes is not None  # its passes replace the backward's
    if result.view.table and _plain_table(result):
        parts.append(_text_table(result, words, width))
    if below:
        parts.append("\n".join(wrap(line, width) for line in below))
    if result.explanations:
        parts.append("\n".join(wrap(f"{words['why']}: {line}", width) for line in result.explanations))
    parts.extend(modes.text_parts(result, width))
    if result.paths and not forward:
        lines = [words["paths"]] + [f"  {line}" for line in chain_rule_lines(result, width - 2)]
        parts.append("\n".join(wrap(line, width) for line in lines))
    if result.matrices:
        lines = [words["matrices"]] + [f"  {line}" for line in matrix_lines(result, words)]
        parts.append("\n".join(wrap(line, width) for line in lines))
    if result.elements:
        lines = [words["elements"]] + [f"  {line}" for line in element_lines(result, width - 2)]
        parts.append("\n".join(wrap(line, width) for line in lines))
    if result.view.trace and result.steps and not forward:
        parts.append("\n".join(wrap(line, width) for line in _text_trace(result, words)))
    parts.extend(wrap(f"note: {note}", width) for note in result.notes)
    return "\n\n".join(parts)


def _plain_table(result: "GradResult") -> bool:
    """The table of values and gradients: unless --mode's table (value, tangents, adjoint) replaces it; kept
    beside that where --order or --check add columns of their own."""
    return result.modes is None or bool(_extra_columns(result))


def own_lines(result: "GradResult", words: dict) -> tuple:
    """(above the table, below it) for a graph of the learner's own classes: which classes ran; how
    their backward's steps checked, the first wrong one written out, and the first that cannot be told."""
    if not result.own_classes:
        return [], []
    above = [words["own classes"].format(names=", ".join(result.own_classes))]
    checks = result.own_check
    counts = ", ".join(f"{sum(c.verdict == mark for c in checks)} {mark}" for mark in "✓✗?"
                       if any(c.verdict == mark for c in checks)) or "no step ran"
    below = [words["own checked"].format(counts=counts)]
    wrong = next((c for c in checks if c.verdict == "✗"), None)
    if wrong is not None:
        below.append(words["own first wrong"].format(k=wrong.index, sentence=wrong.sentence(result.view.digits)))
        below.append(words["own follows"])
    unsure = next((c for c in checks if c.verdict == "?"), None)
    if unsure is not None:
        below.append(words["own cannot tell"].format(k=unsure.index, reason=unsure.reason))
    return above, below


def own_step_lines(result: "GradResult", index: int) -> list:
    """Under a step of a learner's own backward: what is wrong with it (✗), or why it cannot be told (?)."""
    return check_lines(next((c for c in result.own_check if c.index == index), None), result.view.digits)


def check_lines(check: Any, digits: int) -> list:
    """The lines under one checked step (an owncheck.StepCheck, or None): none for a ✓."""
    if check is None or check.verdict == "✓":
        return []
    if check.verdict == "✗":
        return [f"✗ {check.sentence(digits)}"]
    return [f"? cannot tell: {check.reason}"]


def step_marks(result: "GradResult") -> dict:
    """Step index -> its check's mark ('✓', '✗', '?'), for a learner's own backward."""
    return {check.index: check.verdict for check in result.own_check}


def _table_rows(result: "GradResult", words: dict, width: int = TEXT_WIDTH) -> tuple:
    """(header, body, hidden, elided): the cells of the rows shown (each cell a list of lines: an array
    is a small grid), how many rows are left out after the first TABLE_HEAD (only the rows shown are
    formatted), and whether an array was cut to its corners. The 'made by' column, then the grids'
    columns, shrink until a row fits ``width`` display columns."""
    header = ["", words["line"], words["made by"], words["value"], words["grad"].format(t=result.target)]
    extra = _extra_columns(result)
    header += [name for name, _ in extra]
    rows, hidden = summarised(result.rows, TABLE_HEAD, TABLE_LIMIT)
    for made, columns in _table_fits():
        body, elided = _table_body(result, rows, words, extra, made, columns)
        if table_width(header, body) <= width:
            break
    else:  # no columns fit: the text stacks each row (a value per line), so the grids keep their width
        body, elided = _table_body(result, rows, words, extra, *_table_fits()[0])
    return _reordered(header), [_reordered(cells) for cells in body], hidden, elided


def _reordered(cells: list) -> list:
    """Name, value, gradient (and the extra columns) first, then line and 'made by': in a narrow output
    (150% zoom with the file browser open) what is cut or scrolled is the cell's own text, not the numbers."""
    return [cells[0], *cells[3:], cells[1], cells[2]]


def _table_fits() -> list:
    """The (made-by width, grid columns) tried in turn, widest first."""
    return [(40, 6), (28, 6), (20, 6), (14, 6), (14, 4), (12, 3), (10, 2), (10, 1)]


def _table_body(result: "GradResult", rows: tuple, words: dict, extra: list, made_width: int, columns: int) -> tuple:
    digits, exact = result.view.digits, result.view.table_digits
    elided = False

    def cell(value: Any, shape: bool = True) -> list:
        nonlocal elided
        lines, cut = grid(value, exact if np.ndim(value) == 0 else digits, columns, shape=shape)
        elided |= cut
        return lines

    body = []
    for row in rows:
        same = row.grad is not None and np.shape(row.grad) == np.shape(row.value)  # the value's cell gives the shape
        grad = cell(row.grad, not same) if row.grad is not None else [words["no path"].format(t=result.target)]
        line = str(row.lineno) if row.lineno is not None else "—"
        made = short(row.expression, made_width) if row.lineno is not None else words["notebook"]
        cells = [[row.name], [line], [made], cell(row.value), grad]
        for _, column in extra:
            shown = column(row)  # text, or an array to show as the value and gradient are
            cells.append([shown] if isinstance(shown, str) else cell(shown, np.shape(shown) != np.shape(row.value)))
        body.append(cells)
    return body, elided


def _extra_columns(result: "GradResult") -> list:
    columns = []
    if result.derivatives:
        order = max(len(d) for d in result.derivatives.values())
        for k in range(2, order + 1):
            columns.append((f"d{_superscript(k)}{result.target}/d(name){_superscript(k)}",
                            lambda row, k=k: _kth(result, row, k)))
    if result.check:
        columns.append(("central difference", lambda row: _numerical(result, row)))
        columns.append(("rel. error", lambda row: _check_flag(result, row)))
    return columns


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _kth(result: "GradResult", row: "Row", k: int) -> str:
    values = result.derivatives.get(row.name)
    if not values or len(values) < k:
        return ""
    return "n/a" if values[k - 1] is None else fmt_number(values[k - 1])


def _numerical(result: "GradResult", row: "Row") -> str:
    return np.asarray(result.numerical[row.name]) if row.name in result.numerical else ""


def _check_flag(result: "GradResult", row: "Row") -> str:
    """The relative error and the verdict; a pass within the absolute floor says so."""
    if row.name not in result.check:
        return ""
    error = result.check[row.name]
    if not result.check_passed.get(row.name, False):
        return f"{error:.1e}  ✗ MISMATCH"
    floor = "  (within the absolute floor)" if error > result.check_tolerance else ""
    return f"{error:.1e}  ✓{floor}"


def _text_table(result: "GradResult", words: dict, width: int = TEXT_WIDTH) -> str:
    header, body, hidden, elided = _table_rows(result, words, width)
    widths = column_widths(header, body)
    if table_width(header, body) > width:  # too narrow for columns even at their smallest: a row a block
        blocks = [stacked(header, cells, width) for cells in body]
        lines = [line for block in blocks for line in block]
        lines_before = sum(len(block) for block in blocks[:TABLE_HEAD])
    else:
        lines = [table_line([header[i] for i in range(len(header))], widths)]
        for cells in body:
            height = max(len(c) for c in cells)
            lines.extend(table_line([c[k] if k < len(c) else "" for c in cells], widths) for k in range(height))
        lines_before = 1 + _lines_before(body, TABLE_HEAD)
    if hidden:
        lines.insert(lines_before, words["more rows"].format(n=hidden))
    return "\n".join(lines + [wrap(note, width) for note in _table_notes(result, words, elided)])


def _lines_before(body: list, k: int) -> int:
    """How many text lines the first ``k`` rows take."""
    return sum(max(len(c) for c in cells) for cells in body[:k])


def _table_notes(result: "GradResult", words: dict, elided: bool) -> list:
    """What the table's numbers leave out: digits of arrays, and corners of large ones."""
    arrays = any(np.ndim(row.value) > 0 or (row.grad is not None and np.ndim(row.grad) > 0) for row in result.rows)
    if not arrays or result.view.digits >= 17:
        return []
    return [words["arrays rounded" if not elided else "arrays cut"].format(d=result.view.digits)]


def _shown_steps(steps: tuple) -> tuple:
    """All steps, or the first and last TRACE_HEAD with the count of those left out."""
    return summarised(steps, TRACE_HEAD, TRACE_LIMIT)


def as_operand(label: str, limit: int = 40) -> str:
    """A label usable before '.grad' or after 'd': names as they are, expressions in parentheses."""
    label = short(label, limit)
    return label if label.isidentifier() or NAMED.fullmatch(label) or ELEMENT.fullmatch(label) else f"({label})"


def step_title(step: "BackwardStep", words: dict) -> str:
    """'Square.backward  (line 4: y = square(b))'."""
    where = f"  ({words['line']} {step.lineno}: {short(step.source, 60)})" if step.lineno is not None else ""
    return f"{step.function}.backward{where}"


def _step_lines(step: "BackwardStep", words: dict, target: str, digits: int) -> list:
    """The (key, text) rows of one step in the full form, shared by the text and HTML renderings."""
    gy = ", ".join(fmt_array(g, digits) for g in step.gy)
    output = as_operand(step.output)
    inputs = ", ".join(short(flow.input) for flow in step.flows) or "—"
    lines = [
        (words["creator"], f"{output}.creator = {step.function}"),
        (words["input"], f"{step.function}.input{'s' if len(step.flows) > 1 else ''} = {inputs}"),
        (words["incoming"], f"d{target}/d{output} = {gy}"),
        (words["rule"], _rule(step, output, digits)),
    ]
    for flow in step.flows:
        name = as_operand(flow.input)
        if flow.local is not None:
            lines.append((words["local"], f"∂{output}/∂{name} = {' = '.join(local_parts(flow.local, digits))}"))
        lines.append((words["passes"], _passes(flow, gy, f"{name}.grad", digits)))
    return lines


def _rule(step: "BackwardStep", output: str, digits: int) -> str:
    """A rule of several inputs in the cell's own letters ('∂(w*x)/∂w = x, ∂(w*x)/∂x = w': its a and b
    would clash with the cell's names) where every input has a template; else the rule as stated
    ('d/dx σ(x) = σ(x)(1 − σ(x))')."""
    locals_ = [flow.local for flow in step.flows]
    if len(locals_) < 2 or any(local is None or not local.template for local in locals_):
        return step.rule
    return ", ".join(f"∂{output}/∂{as_operand(flow.input)} = {local_parts(flow.local, digits)[0]}"
                     for flow in step.flows)


def _passes(flow: "Flow", gy: str, name: str, digits: int) -> str:
    """'b.grad = 1 × 2.56805 = 2.56805', or with '+=' and '→ total' on a second path."""
    product = ""
    if flow.local is not None and flow.grad.ndim == 0:
        product = f"{gy} × {factor(flow.local.value, digits)} = "
    if flow.accumulated:
        return f"{name} += {product}{fmt_array(flow.grad, digits)}  → {fmt_array(flow.total, digits)}"
    return f"{name} = {product}{fmt_array(flow.grad, digits)}"


HEADER = 90  # a step header longer than this gives the incoming gradient without its name


def compact_step(step: "BackwardStep", words: dict, target: str, digits: int, mark: str = "",
                 width: int = TEXT_WIDTH - 6) -> list:
    """A header ('1. line 4  y.creator = Square, input b → Square.backward(dy/dy = 1)') and one
    line per input ('∂y/∂b = 2b = 2·1.28403 = 2.56805;  dy/db = 1 × 2.56805 = 2.56805'). An array
    step's input gets its matrix form, shapes and values instead (see array_flow); its lines are
    joined with newlines, the grid's rows aligned for ``width`` columns."""
    if step.operands is not None:
        return _array_step(step, words, target, digits, mark, width)
    gy = ", ".join(fmt_array(g, digits) for g in step.gy)
    output = as_operand(step.output, OPERAND)
    head = _step_head(step, words, output)
    incoming = f"(d{target}/d{output} = {gy})"
    head += incoming if len(head) + len(incoming) <= HEADER else f"({gy})"
    if step.rule and step.rule != NO_RULE and any(f.local is None or not f.local.template for f in step.flows):
        head += f";  {words['rule'].strip()}: {step.rule}"  # the numbers alone do not say it
    lines = [f"{mark} {head}" if mark else head]  # first: a learner's eye finds it, a wrapped line keeps it
    for flow in step.flows:
        name = as_operand(flow.input, OPERAND)
        passes = _passes(flow, gy, f"d{target}/d{name}", digits)
        if flow.local is None:
            lines.append(passes)
        else:
            lines.append(f"∂{output}/∂{name} = {' = '.join(local_parts(flow.local, digits))};  {passes}")
    return lines


def _step_head(step: "BackwardStep", words: dict, output: str) -> str:
    """'line 4  y.creator = Square, input b → Square.backward', to which the incoming gradient is added."""
    inputs = ", ".join(short(flow.input, OPERAND) for flow in step.flows) or "—"
    where = f"{words['line']} {step.lineno}  " if step.lineno is not None else ""
    plural = words["inputs"] if len(step.flows) > 1 else words["one input"]
    return f"{where}{output}.creator = {step.function}, {plural} {inputs} → {step.function}.backward"


def _array_step(step: "BackwardStep", words: dict, target: str, digits: int, mark: str, width: int) -> list:
    """An array step: the header naming G, the incoming gradient (its values are those an earlier step
    passed, shown there; the target's seed is shown here), then per input its matrix form."""
    output = as_operand(step.output, OPERAND)
    if len(step.gy) != 1:
        incoming = ", ".join(inline_grid(g, digits) for g in step.gy)
    elif step.output == target:
        incoming = f"G = d{target}/d{output} = {inline_grid(step.gy[0], digits)}"
    else:  # named where it fits: a shape or a label broken across lines reads badly
        incoming = f"G = d{target}/d{output}"
        if display_width(f"{_step_head(step, words, output)}({incoming})") > width:
            incoming = "G"
    head = f"{_step_head(step, words, output)}({incoming})"
    forms = [matrix_form(step, flow, digits) for flow in step.flows]
    if step.rule and step.rule != NO_RULE and any(form is None for form in forms):
        head += f";  {words['rule'].strip()}: {step.rule}"
    lines = [f"{mark} {head}" if mark else head]
    for flow, form in zip(step.flows, forms):
        lines.append(array_flow(flow, form, target, digits, width))
        note = broadcast_note(step, flow, short(flow.input, OPERAND), words["broadcast"])
        if note:
            lines.append(note)
    return lines


def array_flow(flow: "Flow", form: Optional[tuple], target: str, digits: int, width: int) -> str:
    """'dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3) [[…' with the grid's other rows under its first
    (or, when that line would pass ``width``, the whole grid on the lines below)."""
    name = as_operand(flow.input, OPERAND)
    formula, shapes = form if form is not None else ("", "")
    text = f"d{target}/d{name} {'+=' if flow.accumulated else '='} " + (f"{formula}: {shapes}" if formula else "")
    lines, _ = grid(flow.grad, digits, ARRAY_COLUMNS, ARRAY_ROWS)
    if display_width(text + lines[0]) <= width or len(lines) == 1:
        block = [text + lines[0]] + [" " * display_width(text) + line for line in lines[1:]]
    else:
        block = [text.rstrip()] + ["    " + line for line in lines]
    if flow.accumulated:
        block.append(f"    → d{target}/d{name} {inline_grid(flow.total, digits)}")
    return "\n".join(block)


ARRAY_COLUMNS = 6  # a trace's grids show at most this many columns and rows ('…' for the rest)
ARRAY_ROWS = 4


def inline_grid(value: Any, digits: int) -> str:
    """An array as its shape and values on one line: '(2, 3) [[1 2 3] [4 5 6]]' (a number as itself)."""
    lines, _ = grid(value, digits, ARRAY_COLUMNS, ARRAY_ROWS)
    return re.sub(r"(?<=[\[ ]) +", "", " ".join(line.strip() for line in lines))  # no column padding on one line


def _legends(result: "GradResult", words: dict, steps: tuple) -> list:
    """What a step's lines say: for steps of numbers, for array steps, or both where both are shown."""
    arrays = sum(step.operands is not None for step in steps)
    legend = [words["legend full"] if result.view.full_trace else words["legend"]] if arrays < len(steps) else []
    return legend + ([words["legend arrays"]] if arrays else [])


def _text_trace(result: "GradResult", words: dict) -> list:
    steps, hidden = _shown_steps(result.steps)
    digits = result.view.digits
    lines = [words["trace"].format(n=len(result.steps), s="" if len(result.steps) == 1 else "s"),
             *_legends(result, words, steps)]
    number_width = len(str(steps[-1].index)) if steps else 1
    marks = step_marks(result)
    for i, step in enumerate(steps):
        if hidden and i == TRACE_HEAD:
            lines.append("  " + words["more"].format(n=hidden))
        lead = f"{str(step.index).rjust(number_width)}. "
        mark = marks.get(step.index, "")
        if result.view.full_trace:
            lines.append(f"{lead}{step_title(step, words)}{'  ' + mark if mark else ''}")
            pairs = _step_lines(step, words, result.target, digits)
            width = max(len(key) for key, _ in pairs)
            lines.extend(f"{' ' * (len(lead) + 2)}{key.ljust(width)}  {text}" for key, text in pairs)
        else:
            head, *flows = compact_step(step, words, result.target, digits, mark)
            lines.append(lead + head)
            indent = " " * (len(lead) + 2)
            lines.extend(indent + flow.replace("\n", "\n" + indent) for flow in flows + own_step_lines(result, step.index))
    return lines


# ================================================================ HTML




# ✓ ✗ ? of a learner's own backward: white on green, red, amber, so that one chip reads on light and
# dark pages alike (≥ 6:1; inline styles survive JupyterLab's sanitiser in untrusted notebooks)
_CHIP = "color:#fff;padding:0 0.3em;border-radius:3px;font-weight:bold"
_MARK_STYLE = {"✓": f' style="background:#1e6b2a;{_CHIP}"', "✗": f' style="background:#b3261e;{_CHIP}"',
               "?": f' style="background:#8a5a00;{_CHIP}"'}
_LINE_STYLE = {"✗": ' style="border-left:4px solid #b3261e;padding-left:0.5em"',
               "?": ' style="border-left:4px solid #8a5a00;padding-left:0.5em"'}


def to_html(result: "GradResult") -> str:
    """The HTML rendering: the same table and trace as the text, as plain classed elements."""
    words = WORDS[result.view.lang]
    above, below = own_lines(result, words)
    parts = ['<div class="adiff-result">'] + [f'<p class="adiff-own">{_e(line)}</p>' for line in above]
    forward = result.view.mode == "forward" and result.modes is not None
    if result.view.table and _plain_table(result):
        header, body, hidden, elided = _table_rows(result, words)
        made = len(header) - 1  # 'made by', the last column
        head = "".join(f"<th{LEFT if i == made else ''}>{_e(cell)}</th>" for i, cell in enumerate(header))
        rows = ["<tr>" + "".join(html_cell(i, cell, made) for i, cell in enumerate(r)) + "</tr>" for r in body]
        if hidden:
            more = _e(words["more rows"].format(n=hidden))
            rows.insert(TABLE_HEAD, f'<tr class="adiff-more"><td colspan="{len(header)}"{LEFT}>{more}</td></tr>')
        rows = "".join(rows)
        # in a box of the output's width that scrolls on its own: a narrow output (150% zoom, the file
        # browser open) never pushes the rest sideways, and the scroll bar says there is more
        parts.append(f'<div class="adiff-table-box" style="max-width:100%;overflow-x:auto">'
                     f'<table class="adiff-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')
        parts.extend(f'<p class="adiff-note">{_e(note)}</p>' for note in _table_notes(result, words, elided))
    parts.extend(f'<p class="adiff-own-check"{_LINE_STYLE.get(line[:1], "")}>{_e(line)}</p>' for line in below)
    parts.extend(f'<p class="adiff-why">{_e(words["why"])}: {_e(line)}</p>' for line in result.explanations)
    parts.extend(modes.html_parts(result))
    if result.paths and not forward:
        sentences, notes = chain_rules_written(result)
        lines = "".join(f"<div{LEFT}><code>{_e(line)}</code></div>" for line in sentences)
        note = "".join(f"<p>{_e(note)}</p>" for note in notes)
        parts.append(f'<div class="adiff-paths"><p>{_e(words["paths"])}</p>{lines}{note}</div>')
    if result.matrices:
        lines = "".join(f"<div{LEFT}><code>{_e(line)}</code></div>" for line in matrix_lines(result, words))
        parts.append(f'<div class="adiff-matrices"><p>{_e(words["matrices"])}</p>{lines}</div>')
    if result.elements:
        lines = "".join(f"<div{LEFT}><code>{_e(line)}</code></div>" for line in element_lines(result))
        parts.append(f'<div class="adiff-elements"><p>{_e(words["elements"])}</p>{lines}</div>')
    if result.view.trace and result.steps and not forward:
        parts.append(_html_trace(result, words))
    parts.extend(f'<p class="adiff-note">note: {_e(note)}</p>' for note in result.notes)
    parts.append("</div>")
    return "".join(parts)


def _html_flow(text: str) -> str:
    """One line of a step as escaped HTML (it may wrap); several (an array's grid, aligned, so it cannot
    wrap) in a box that scrolls on its own in an output too narrow for it."""
    if "\n" not in text:
        return f'<div class="adiff-flow"><code>{_e(text)}</code></div>'
    first, *rest = text.split("\n")
    indent = len(rest[0]) - len(rest[0].lstrip())
    if 0 < indent < len(first) and first[indent - 1] == "[":  # a grid's '(2, 3) [[' ends the formula's line:
        start = first.rfind(" (", 0, indent - 1) + 1  # its shape starts it: the grid goes on lines of its own
        first, rest = first[:start].rstrip(), [first[start:]] + [line[start:] for line in rest]
    return (f'<div class="adiff-flow"><code>{_e(first)}</code></div>'
            f'<div class="adiff-flow" style="max-width:100%;overflow-x:auto"><code>{html_block(rest)}</code></div>')


def _html_trace(result: "GradResult", words: dict) -> str:
    steps, hidden = _shown_steps(result.steps)
    digits = result.view.digits
    items = []
    marks = step_marks(result)
    for i, step in enumerate(steps):
        mark = marks.get(step.index, "")
        if hidden and i == TRACE_HEAD:
            items.append(f'<li class="adiff-more">{_e(words["more"].format(n=hidden))}</li>')
        if result.view.full_trace:
            rows = "".join(f"<tr><th>{_e(key)}</th><td{LEFT}><code>{_e(text)}</code></td></tr>"
                           for key, text in _step_lines(step, words, result.target, digits))
            items.append(f'<li value="{step.index}"><b>{_e(step_title(step, words))}</b>'
                         f'{"  " + _e(mark) if mark else ""}<table class="adiff-step">{rows}</table></li>')
        else:
            head, *flows = compact_step(step, words, result.target, digits)
            flows = "".join(_html_flow(flow) for flow in flows)
            flows += "".join(f'<div class="adiff-flow"{_LINE_STYLE[line[0]]}><code>{_e(line)}</code></div>'
                             for line in own_step_lines(result, step.index))
            shown = f'<b{_MARK_STYLE[mark]}>{_e(mark)}</b> ' if mark else ""
            items.append(f'<li value="{step.index}">{shown}<code>{_e(head)}</code>{flows}</li>')
    title = _e(words["trace"].format(n=len(result.steps), s="" if len(result.steps) == 1 else "s"))
    legend = "<br>".join(_e(line) for line in _legends(result, words, steps))
    # the list's numbers sit in its left padding: room for the widest one ('100,000.' too)
    room = f' style="padding-left:{len(f"{len(result.steps):,}") * 0.65 + 1.2:.1f}em"' if len(result.steps) >= 100 else ""
    if result.view.folded:  # --step: the stepper shows the steps one by one, so the trace does not give them away
        return (f'<details class="adiff-trace"><summary>{title} {_e(words["folded"])}</summary>'
                f'<p class="adiff-legend">{legend}</p><ol{room}>{"".join(items)}</ol></details>')
    return (f'<details open class="adiff-trace"><summary>{title}</summary><p class="adiff-legend">{legend}</p>'
            f'<ol{room}>{"".join(items)}</ol></details>')


# ================================================================ graph


def _node_text(node: tuple, digits: Optional[int] = None) -> str:
    key, kind, name, value, grad = node
    if kind == "function":
        return name
    grad_text = "—" if grad is None else fmt_array(grad.data if hasattr(grad, "creator") else grad, digits)
    return f"{name}\nvalue {fmt_array(value, digits)}\ngrad {grad_text}"


def to_mermaid(result: "GradResult") -> str:
    """The graph as mermaid source (variables as boxes with value and gradient, functions rounded),
    for a page that draws mermaid; the picture --graph shows is the SVG."""
    nodes, edges = result.graph
    lines = ["flowchart LR"]
    for node in nodes:
        text = _mermaid_escape(_node_text(node, result.view.digits)).replace("\n", "<br/>")
        lines.append(f'    {node[0]}(["{text}"])' if node[1] == "function" else f'    {node[0]}["{text}"]')
    lines.extend(f"    {e.source} --> {e.target}" for e in edges)
    return "\n".join(lines)


def _mermaid_escape(text: str) -> str:
    """User text inside a quoted mermaid label: quotes and angle brackets as mermaid entity codes."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def graph_text(result: "GradResult") -> str:
    """The graph the picture shows, as text: one line per function, inputs (× local) -> function -> output."""
    from .graph import MAX_NODES, nearest

    digits = result.view.digits
    graph, total = nearest(_graph(result), MAX_NODES)
    nodes, edges = graph
    by_key = {node[0]: node for node in nodes}
    lines = ["computational graph (inputs, × their local derivative -> function -> output):"]
    if len(nodes) < total:
        lines[0] += f" showing {len(nodes)} of {total} nodes nearest the target"
    for node in nodes:
        if node[1] != "function":
            continue
        ins = [_node_text(by_key[e.source], digits).replace("\n", ", ") +
               (f" (× {fmt_short(e.local, digits)})" if e.local is not None else "")
               for e in edges if e.target == node[0]]
        outs = [_node_text(by_key[e.target], digits).replace("\n", ", ") for e in edges if e.source == node[0]]
        lines.append(f"  {' ; '.join(ins)}  ->  {node[2]}  ->  {' ; '.join(outs)}")
    return "\n".join(lines)


def _graph(result: "GradResult") -> Any:
    """The result's graph as a Graph of GraphNodes and GraphEdges (a hand-built one may hold tuples)."""
    nodes, edges = result.graph
    return Graph(tuple(GraphNode(*node) for node in nodes), tuple(GraphEdge(*edge) for edge in edges))


def graph_bundle(result: "GradResult", progress: Any = None) -> dict:
    """The picture as image/svg+xml, with a PNG of it for untrusted notebooks (when Pillow is there)
    and the text rendering as text/plain; ``progress`` hears of each stage of the drawing."""
    from .graph import pictures

    svg, png = pictures(_graph(result), result.view.digits, progress)
    bundle = {"image/svg+xml": svg}
    if png is not None:
        bundle["image/png"] = png
    bundle["text/plain"] = graph_text(result)
    return bundle


# ================================================================ the chain rule as a sentence


SENTENCE = 100  # a path sentence longer than this is written through the named variables, if that is shorter


def chain_rules_written(result: "GradResult", width: int = 100) -> tuple:
    """(lines, notes): per input, 'dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1 = 3.29744', on
    one line when it fits, else two. Paths whose symbols are too long go through the named variables
    only, and a note says so; another says how many inputs' sentences are left out."""
    lines: list = []
    notes: list = []
    written_rules = [(name, rule) for name, rule in result.paths.items() if rule.written]
    for name, rule in written_rules:
        written, note = rule_sentence(result.target, name, rule, result.view, width)
        lines.extend(written)
        notes.append(note)
    notes = [next((note for note in notes if note), "")]
    if len(written_rules) < len(result.paths):
        notes.append(WORDS[result.view.lang]["rules left out"].format(k=len(written_rules), n=len(result.paths)))
    return lines, [note for note in notes if note]


def rule_sentence(target: str, name: str, rule: Any, view: Any, width: int = 100) -> tuple:
    """(lines, note) of one ChainRule: the sentence d(target)/d(name) = …, and the note to add when it
    is written through the named variables ('' otherwise)."""
    words, digits = WORDS[view.lang], view.digits
    lead = f"d{as_operand(target)}/d{as_operand(name)} = "
    written, note = _sentence(rule, False, words, digits), ""
    if written is None or len(lead) + len(written[0]) > SENTENCE:
        named = _sentence(rule, True, words, digits)
        if named is not None and (written is None or len(named[0]) < len(written[0])):
            factor = next(f for f in rule.named[0] if f.input != f.output)
            written = named
            note = words["named"].format(out=as_operand(factor.output), inp=as_operand(factor.input))
    if written is None:  # the gradient first, where it is read; then how many paths
        return [lead + words["too many paths"].format(total=fmt_short(rule.total, digits), n=path_count(rule.count))], ""
    symbols, numbers = written
    if len(lead) + len(symbols) + len(numbers) + 3 <= width:
        return [f"{lead}{symbols} = {numbers}"], note
    return [lead + symbols, " " * (len(lead) - 2) + "= " + numbers], note


def matrix_lines(result: "GradResult", words: dict) -> list:
    """Each array input's gradient in matrix form (--wrt W1), then the named gradients those use, each
    written once: 'dloss/dW1 = xᵀ @ (dloss/dh ⊙ (1 - h²)), (2, 3)'."""
    t = as_operand(result.target)
    lines, written = [], set()
    for name, equations in result.matrices:
        if equations is None:
            lines.append(words["no matrices"].format(t=t, name=as_operand(name)))
            continue
        for label, formula, shape in equations:
            if label not in written:
                written.add(label)
                lines.append(f"d{t}/d{as_operand(label)} = {formula}, {shape}")
    return lines


def element_lines(result: "GradResult", width: int = 100) -> list:
    """The sentence of each element asked for with --wrt "W1[0,1]" (elements.py): its paths written
    out when there are at most MAX_ELEMENT_PATHS, else its gradient and how many paths sum to it."""
    from .model import ChainRule

    lines, words = [], WORDS[result.view.lang]
    for rule in result.elements:
        note = rule.note or (words["no element path"].format(t=as_operand(result.target)) if not rule.count else "")
        if note:  # too large to walk, or no path of nonzero partials: the gradient and why there is no sentence
            lines.append(f"d{as_operand(result.target)}/d{rule.input} = {fmt_short(rule.total, result.view.digits)}: "
                         f"{note}")
            continue
        paths = rule.paths if rule.count <= MAX_ELEMENT_PATHS else ()
        chain = ChainRule(rule.input, rule.count, paths, rule.total)
        lines.extend(rule_sentence(result.target, rule.input, chain, result.view, width)[0])
    return lines


def path_count(count: int) -> str:
    """A number of paths as a reader takes it in: '11', '1,234,567', 'about 1.1 × 10^301'."""
    if count < 10**7:
        return f"{count:,}"
    exponent = math.floor(math.log10(count))  # exact for ints of any size, unlike float(count)
    mantissa = 10 ** (math.log10(count) - exponent)
    return f"about {mantissa:.1f} × 10^{exponent}"


def chain_rule_lines(result: "GradResult", width: int = 100) -> list:
    """The chain rule's lines as the text shows them, its notes (if any) last."""
    lines, notes = chain_rules_written(result, width)
    return lines + notes


def _sentence(rule: Any, named: bool, words: dict, digits: int) -> Any:
    """(symbols, numbers) of the paths written out (all paths, or those through named variables), or None."""
    paths = rule.named if named else rule.paths
    if not paths:
        return None
    symbols = " + ".join(_factors(path, lambda f: f"∂{as_operand(f.output)}/∂{as_operand(f.input)}", " · ", words)
                         for path in paths)
    numbers = " + ".join(_factors(path, lambda f: factor(f.value, digits), " × ", words) for path in paths)
    steps = [numbers]
    if len(paths) > 1 and any(len(path) > 1 for path in paths):
        steps.append(" + ".join(factor(p, digits) for p in rule.products(named)))
    total = fmt_short(rule.total, digits)
    if steps[-1] == f"({total})":  # one negative factor is the total: '-7.09', not '(-7.09) = -7.09'
        steps[-1] = total
    elif steps[-1] != total:
        steps.append(total)
    return symbols, " = ".join(steps)


PATH_ENDS = 3  # a path of more factors than twice this shows its first and last three, and how many are left out


def _factors(path: tuple, text: Any, joiner: str, words: dict) -> str:
    """The path's factors written by ``text``, joined; only its ends when it is long (the rest is not
    written at all: a path may have thousands of factors)."""
    if len(path) <= 2 * PATH_ENDS + 1:
        return joiner.join(text(f) for f in path)
    hidden = words["more factors"].format(n=len(path) - 2 * PATH_ENDS)
    return joiner.join([text(f) for f in path[:PATH_ENDS]] + [hidden] + [text(f) for f in path[-PATH_ENDS:]])
