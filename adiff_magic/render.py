"""Pure functions from a GradResult to text, HTML and mermaid: the same information in each.

The HTML has no <script>, no <style> and no inline var(--jp-...) styles: JupyterLab strips them
from untrusted notebooks. Plain tables with classes are themed by JupyterLab in light and dark."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any


from .fmt import fmt_array, fmt_number, fmt_short, short

if TYPE_CHECKING:
    from .result import GradResult, Row
    from .trace import BackwardStep, Flow

TRACE_HEAD = 12  # a longer trace shows its first and last TRACE_HEAD steps, and says so
TRACE_LIMIT = 2 * TRACE_HEAD + 6
TABLE_HEAD = 12  # a longer table shows its first and last TABLE_HEAD rows, and says so
TABLE_LIMIT = 2 * TABLE_HEAD + 6

WORDS = {
    "en": {
        "value": "value", "grad": "d{t}/d(name)", "line": "line", "made by": "made by",
        "trace": "backward trace: {n} step(s), in the order the engine ran them",
        "legend": "each step: take the function that made the variable (creator), take its input, "
                  "call its backward: passes = incoming × local",
        "creator": "creator", "input": "input", "incoming": "incoming", "rule": "rule", "local": "local",
        "passes": "passes", "notebook": "from the notebook",
        "more": "… {n:,} more steps not shown (all are in result.steps) …",
        "paths": "chain rule: each path from the input to the target multiplies its local derivatives; the paths add up",
        "too many paths": "{n:,} paths: too many to write out; the trace shows them adding up",
        "more factors": "(… {n:,} more …)",
        "more rows": "… {n:,} rows not shown (all are in result.rows) …",
        "no path": "— ({t} does not depend on it)",
    },
    "ko": {
        "value": "값 value", "grad": "d{t}/d(name)", "line": "줄 line", "made by": "만든 식 made by",
        "trace": "역전파 기록 backward trace: {n}단계 step(s), 엔진이 실행한 순서 in the order the engine ran them",
        "legend": "각 단계 each step: 1. 함수를 가져온다 (creator)  2. 함수의 입력을 가져온다 (input)  "
                  "3. 함수의 backward 메서드를 호출한다 (passes = incoming × local)",
        "creator": "1. 함수 creator", "input": "2. 입력 input", "incoming": "3. 들어온 기울기 incoming",
        "rule": "   국소 규칙 rule", "local": "   국소 미분 local", "passes": "   전달 passes",
        "notebook": "노트북에서 from the notebook",
        "more": "… {n:,}단계 생략 more steps not shown (result.steps에 모두 있음) …",
        "paths": "연쇄 법칙 chain rule: 입력에서 목표까지 각 경로의 국소 미분을 곱하고, 경로들을 더한다 "
                 "(each path multiplies its local derivatives; the paths add up)",
        "too many paths": "경로 {n:,}개 paths: too many to write out; the trace shows them adding up",
        "more factors": "(… {n:,}개 더 more …)",
        "more rows": "… {n:,}행 생략 rows not shown (result.rows에 모두 있음) …",
        "no path": "— ({t}와 무관 does not depend on it)",
    },
}


# ================================================================ text


def to_text(result: "GradResult") -> str:
    """The plain-text rendering: aligned table, then the trace."""
    words = WORDS[result.view.lang]
    parts = []
    if result.view.table:
        parts.append(_text_table(result, words))
    if result.paths:
        parts.append("\n".join([words["paths"]] + [f"  {line}" for line in chain_rule_lines(result)]))
    if result.view.trace and result.steps:
        parts.append(_text_trace(result, words))
    parts.extend(f"note: {note}" for note in result.notes)
    return "\n\n".join(parts)


def _table_rows(result: "GradResult", words: dict) -> tuple:
    """(header, body, hidden): the cells of the rows shown, and how many rows are left out after
    the first TABLE_HEAD (only the rows shown are formatted)."""
    header = ["", words["line"], words["made by"], words["value"], words["grad"].format(t=result.target)]
    extra = _extra_columns(result)
    header += [name for name, _ in extra]
    rows, hidden = _summarised(result.rows, TABLE_HEAD, TABLE_LIMIT)
    body = []
    for row in rows:
        grad = fmt_array(row.grad) if row.grad is not None else words["no path"].format(t=result.target)
        line = str(row.lineno) if row.lineno is not None else "—"
        made = short(row.expression) if row.lineno is not None else words["notebook"]
        cells = [row.name, line, made, fmt_array(row.value), grad]
        cells += [column(row) for _, column in extra]
        body.append(cells)
    return header, body, hidden


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
    return fmt_array(result.numerical[row.name]) if row.name in result.numerical else ""


def _check_flag(result: "GradResult", row: "Row") -> str:
    """The relative error and the verdict; a pass within the absolute floor says so."""
    if row.name not in result.check:
        return ""
    error = result.check[row.name]
    if not result.check_passed.get(row.name, False):
        return f"{error:.1e}  ✗ MISMATCH"
    floor = "  (within the absolute floor)" if error > result.check_tolerance else ""
    return f"{error:.1e}  ✓{floor}"


def _text_table(result: "GradResult", words: dict) -> str:
    header, body, hidden = _table_rows(result, words)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header] + body]
    if hidden:
        lines.insert(1 + TABLE_HEAD, words["more rows"].format(n=hidden))
    return "\n".join(lines)


def _summarised(items: tuple, head: int, limit: int) -> tuple:
    """(items shown, how many are left out): all of them, or the first and last ``head``."""
    if len(items) <= limit:
        return items, 0
    return tuple(items[:head]) + tuple(items[-head:]), len(items) - 2 * head


def _shown_steps(steps: tuple) -> tuple:
    """All steps, or the first and last TRACE_HEAD with the count of those left out."""
    return _summarised(steps, TRACE_HEAD, TRACE_LIMIT)


def as_operand(label: str) -> str:
    """A label usable before '.grad' or after 'd': names as they are, expressions in parentheses."""
    label = short(label)
    return label if label.isidentifier() else f"({label})"


def step_title(step: "BackwardStep", words: dict) -> str:
    """'Square.backward  (line 4: y = square(b))'."""
    where = f"  ({words['line']} {step.lineno}: {short(step.source, 60)})" if step.lineno is not None else ""
    return f"{step.function}.backward{where}"


def _step_lines(step: "BackwardStep", words: dict, target: str) -> list:
    """The (key, text) lines of one step, shared by the text and HTML renderings."""
    gy = ", ".join(fmt_array(g) for g in step.gy)
    output = as_operand(step.output)
    inputs = ", ".join(short(flow.input) for flow in step.flows) or "—"
    lines = [
        (words["creator"], f"{output}.creator = {step.function}"),
        (words["input"], f"{step.function}.input{'s' if len(step.flows) > 1 else ''} = {inputs}"),
        (words["incoming"], f"d{target}/d{output} = {gy}"),
        (words["rule"], step.rule),
    ]
    for flow in step.flows:
        name = as_operand(flow.input)
        if flow.local:
            lines.append((words["local"], f"∂{output}/∂{name} = {flow.local}"))
        lines.append((words["passes"], _passes(flow, gy)))
    return lines


def _passes(flow: "Flow", gy: str) -> str:
    name = as_operand(flow.input)
    local = flow.local.rsplit(" = ", 1)[-1]
    product = f"{gy} × {local} = " if flow.local and flow.grad.ndim == 0 else ""
    if flow.accumulated:
        return f"{name}.grad += {product}{fmt_array(flow.grad)}  → {fmt_array(flow.total)}"
    return f"{name}.grad = {product}{fmt_array(flow.grad)}"


def _text_trace(result: "GradResult", words: dict) -> str:
    steps, hidden = _shown_steps(result.steps)
    lines = [words["trace"].format(n=len(result.steps)), words["legend"]]
    for i, step in enumerate(steps):
        if hidden and i == TRACE_HEAD:
            lines.append("  " + words["more"].format(n=hidden))
        lines.append(f"  {step.index}. {step_title(step, words)}")
        pairs = _step_lines(step, words, result.target)
        width = max(len(key) for key, _ in pairs)
        lines.extend(f"       {key.ljust(width)}  {text}" for key, text in pairs)
    return "\n".join(lines)


# ================================================================ HTML


# JupyterLab right-aligns table cells; formulas read better from the left. text-align is one of the
# inline styles its sanitiser keeps in untrusted notebooks (unlike <style> or var(--jp-...)).
LEFT = ' style="text-align:left"'


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def to_html(result: "GradResult") -> str:
    """The HTML rendering: the same table and trace as the text, as plain classed elements."""
    words = WORDS[result.view.lang]
    parts = ['<div class="adiff-result">']
    if result.view.table:
        header, body, hidden = _table_rows(result, words)
        head = "".join(f"<th{LEFT if i == 2 else ''}>{_e(cell)}</th>" for i, cell in enumerate(header))
        rows = ["<tr>" + "".join(_html_cell(i, cell) for i, cell in enumerate(r)) + "</tr>" for r in body]
        if hidden:
            more = _e(words["more rows"].format(n=hidden))
            rows.insert(TABLE_HEAD, f'<tr class="adiff-more"><td colspan="{len(header)}"{LEFT}>{more}</td></tr>')
        rows = "".join(rows)
        parts.append(f'<table class="adiff-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
    if result.paths:
        lines = "".join(f"<div{LEFT}><code>{_e(line)}</code></div>" for line in chain_rule_lines(result))
        parts.append(f'<div class="adiff-paths"><p>{_e(words["paths"])}</p>{lines}</div>')
    if result.view.trace and result.steps:
        parts.append(_html_trace(result, words))
    parts.extend(f'<p class="adiff-note">note: {_e(note)}</p>' for note in result.notes)
    parts.append("</div>")
    return "".join(parts)


def _html_cell(index: int, cell: str) -> str:
    if index == 0:
        return f"<th><code>{_e(cell)}</code></th>"
    if index == 2:
        return f"<td{LEFT}><code>{_e(cell)}</code></td>"
    return f"<td>{_e(cell)}</td>"


def _html_trace(result: "GradResult", words: dict) -> str:
    steps, hidden = _shown_steps(result.steps)
    items = []
    for i, step in enumerate(steps):
        if hidden and i == TRACE_HEAD:
            items.append(f'<li class="adiff-more">{_e(words["more"].format(n=hidden))}</li>')
        rows = "".join(f"<tr><th>{_e(key)}</th><td{LEFT}><code>{_e(text)}</code></td></tr>"
                       for key, text in _step_lines(step, words, result.target))
        items.append(f'<li value="{step.index}"><b>{_e(step_title(step, words))}</b>'
                     f'<table class="adiff-step">{rows}</table></li>')
    title = _e(words["trace"].format(n=len(result.steps)))
    legend = f'<p class="adiff-legend">{_e(words["legend"])}</p>'
    return f'<details open class="adiff-trace"><summary>{title}</summary>{legend}<ol>{"".join(items)}</ol></details>'


# ================================================================ graph


def _node_text(node: tuple) -> str:
    key, kind, name, value, grad = node
    if kind == "function":
        return name
    grad_text = "—" if grad is None else fmt_array(grad.data if hasattr(grad, "creator") else grad)
    return f"{name}\nvalue {fmt_array(value)}\ngrad {grad_text}"


def to_mermaid(result: "GradResult") -> str:
    """A mermaid flowchart: variables as boxes (value, gradient), functions as rounded nodes."""
    nodes, edges = result.graph
    lines = ["flowchart LR"]
    for node in nodes:
        text = _mermaid_escape(_node_text(node)).replace("\n", "<br/>")
        lines.append(f'    {node[0]}(["{text}"])' if node[1] == "function" else f'    {node[0]}["{text}"]')
    lines.extend(f"    {a} --> {b}" for a, b in edges)
    return "\n".join(lines)


def _mermaid_escape(text: str) -> str:
    """User text inside a quoted mermaid label: quotes and angle brackets as mermaid entity codes."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def graph_text(result: "GradResult") -> str:
    """The same graph as text: one line per function, inputs -> function -> outputs."""
    nodes, edges = result.graph
    by_key = {node[0]: node for node in nodes}
    lines = ["computational graph (inputs -> function -> output):"]
    for node in nodes:
        if node[1] != "function":
            continue
        ins = [_node_text(by_key[a]).replace("\n", ", ") for a, b in edges if b == node[0]]
        outs = [_node_text(by_key[b]).replace("\n", ", ") for a, b in edges if a == node[0]]
        lines.append(f"  {' ; '.join(ins)}  ->  {node[2]}  ->  {' ; '.join(outs)}")
    return "\n".join(lines)


def graph_bundle(result: "GradResult") -> dict:
    """text/vnd.mermaid for JupyterLab 4.1+, with the text rendering as text/plain."""
    return {"text/vnd.mermaid": to_mermaid(result), "text/plain": graph_text(result)}


# ================================================================ the chain rule as a sentence


def chain_rule_lines(result: "GradResult") -> list:
    """Per input, 'dy/dx = ∂y/∂b · ∂b/∂a · ∂a/∂x = 2.56805 × 1.28403 × 1 = 3.29744' (two lines when long)."""
    words = WORDS[result.view.lang]
    lines = []
    for name, rule in result.paths.items():
        lead = f"d{as_operand(result.target)}/d{as_operand(name)} = "
        if not rule.paths:
            lines.append(lead + words["too many paths"].format(n=rule.count) + f" (= {fmt_short(rule.total)})")
            continue
        symbols = " + ".join(_factors([f"∂{as_operand(f.output)}/∂{as_operand(f.input)}" for f in path], " · ", words)
                             for path in rule.paths)
        numbers = " + ".join(_factors([fmt_short(f.value) for f in path], " × ", words) for path in rule.paths)
        products = [fmt_short(p) for p in rule.products()]
        steps = [numbers]
        if len(rule.paths) > 1 and any(len(path) > 1 for path in rule.paths):
            steps.append(" + ".join(products))
        total = fmt_short(rule.total)
        if steps[-1] != total:
            steps.append(total)
        lines.append(lead + symbols)
        lines.append(" " * (len(lead) - 2) + "= " + " = ".join(steps))
    return lines


PATH_ENDS = 3  # a path of more factors than twice this shows its first and last three, and how many are left out


def _factors(texts: list, joiner: str, words: dict) -> str:
    if len(texts) <= 2 * PATH_ENDS + 1:
        return joiner.join(texts)
    hidden = words["more factors"].format(n=len(texts) - 2 * PATH_ENDS)
    return joiner.join(texts[:PATH_ENDS] + [hidden] + texts[-PATH_ENDS:])
