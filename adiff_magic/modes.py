"""The views of forward mode and of the Hessian (--mode forward, --mode both, --hessian): pure functions
from a GradResult to lines of text and to HTML, with the same information in both.

--mode forward: a table of every line's value and tangents (one column per input's pass), then each
pass written line by line in the cell's letters (ż = ∂z/∂w·ẇ + ∂z/∂x·ẋ = …), then the pass counts.
--mode both: Baydin's layout, one row per line with its value, its tangents and its adjoint."""
from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .elements import parse_element
from .fmt import fmt_number, fmt_short, grid, short, wrap
from .layout import LEFT, column_widths, escape as _e, factor, html_cell, local_parts, stacked, summarised, table_line, \
    table_width

if TYPE_CHECKING:
    from .forward import Hessian, Line, Modes
    from .result import GradResult

TANGENT_COLUMNS = 4  # the table's tangent columns: the first inputs' passes; result.tangents has all
ROWS_HEAD = 12  # a longer table or pass shows its first and last ROWS_HEAD lines, and says how many are left out
ROWS_LIMIT = 2 * ROWS_HEAD + 6
MAX_TERMS = 6  # a line of more operands writes only those that move in the pass, at most this many
HESSIAN_COLUMNS = 8  # the Hessian shown over at most this many inputs; result.hessian has every pair
DOT = "\u0307"  # combining dot above: ẋ

WORDS = {
    "en": {
        "forward": "forward mode: one pass per input, seeded with that input's tangent 1 and the others' 0; "
                   "column d/d{x}: each line's tangent in the pass of {x} ({example}), which is Σ ∂line/∂operand "
                   "× the operand's tangent",
        "both": "both modes, line by line (Baydin's layout): each line's value, its tangent d/d(input) in each "
                "input's forward pass, and its adjoint d{t}/d(name) from the one backward pass",
        "pass": "pass {k} of {n}: {seed} = 1",
        "result": "→ d{t}/d{x} = {forward}; reverse mode gives {reverse} {mark}",
        "value": "value", "line": "line", "made by": "made by",
        "more lines": "… {n:,} lines not shown (result.tangents has every line's tangent) …",
        "more passes": "({n:,} more passes not written out; result.tangents has them all)",
        "more columns": "(tangent columns for {k} of the {n:,} passes; result.tangents has them all, an array's "
                        "elements under their names, e.g. result.tangents['{example}'])",
        "hessian": "second derivatives (--hessian): ∂²{t}/∂(row)∂(column), forward over reverse (one tangent pass "
                   "through the gradient's graph per input)",
        "hessian cut": "(the first {k} of the {n:,} inputs; result.hessian has every pair)",
        "newton": "one Newton step (the book's step 33): {x} ← {x} − {t}′/{t}″ = {value} − {d1}/{d2} = {new}",
        "no newton": "no Newton step: {t}″ = 0 at {x} = {value}",
        "counts": "",
    },
    "ko": {
        "forward": "전진 모드 forward mode: 입력마다 한 번의 패스 one pass per input (그 입력의 접선 tangent 1, "
                   "나머지 0); 각 줄의 접선 = Σ ∂줄/∂피연산자 × 피연산자의 접선 ({example})",
        "both": "두 모드 both modes, 줄마다 line by line (Baydin): 값 value, 전진 패스의 접선 tangent d(name)/d(input), "
                "역전파의 수반값 adjoint d{t}/d(name)",
        "pass": "패스 pass {k}/{n}: {seed} = 1",
        "result": "→ d{t}/d{x} = {forward}; 역전파 reverse mode: {reverse} {mark}",
        "value": "값 value", "line": "줄 line", "made by": "만든 식 made by",
        "more lines": "… {n:,}줄 생략 lines not shown (result.tangents에 모두 있음) …",
        "more passes": "({n:,}개 패스 생략 more passes not written out; result.tangents에 모두 있음)",
        "more columns": "(접선 열은 {n:,}개 패스 중 {k}개 tangent columns for {k} of the {n:,} passes; "
                        "result.tangents에 모두 있음 all are in result.tangents, e.g. result.tangents['{example}'])",
        "hessian": "2계 도함수 second derivatives (--hessian): ∂²{t}/∂(행 row)∂(열 column), 역전파 위의 전진 모드 "
                   "forward over reverse",
        "hessian cut": "(입력 {n:,}개 중 처음 {k}개 the first {k} inputs; result.hessian에 모두 있음)",
        "newton": "뉴턴 한 걸음 one Newton step (33단계 step 33): {x} ← {x} − {t}′/{t}″ = {value} − {d1}/{d2} = {new}",
        "no newton": "뉴턴 걸음 없음 no Newton step: {t}″ = 0 ({x} = {value})",
        "counts": "패스 수 (역전파 reverse / 전진 forward): ",
    },
}


def dotted(name: str, seed: str) -> str:
    """The tangent of ``name`` in the pass seeded at ``seed``: ẋ for a one-letter name (W1 gives Ẇ1), else
    dloss/dw."""
    if name[:1].isalpha() and name[:1].isascii() and (len(name) == 1 or name[1:].isdigit()):
        return unicodedata.normalize("NFC", name[0] + DOT) + name[1:]  # ẋ as one character where there is one
    return f"d{_operand(name)}/d{_operand(seed)}"


def _operand(name: str) -> str:
    return name if name.isidentifier() or "[" in name else f"({name})"


# ================================================================ the table


def table(result: "GradResult") -> tuple:
    """(header, body, notes): a row per line of the cell, each cell a list of text lines."""
    modes: "Modes" = result.modes
    words = WORDS[result.view.lang]
    seeds = _column_seeds(modes)
    both = result.view.mode == "both"
    header = [""] + [words["value"]] + [f"d/d{_operand(seed)}" for seed in seeds]
    header += [f"d{_operand(result.target)}/d(name)"] if both else []
    header += [words["line"], words["made by"]]
    lines, hidden = summarised(modes.lines, ROWS_HEAD, ROWS_LIMIT)
    digits = result.view.table_digits
    body = []
    for line in lines:
        cells = [[line.label.name], _cell(line.variable.data, digits, result.view.digits)]
        cells += [_cell(modes.tangents[seed][line.label.name], digits, result.view.digits, False) for seed in seeds]
        if both:
            adjoint = modes.adjoints.get(line.label.name)
            cells.append(["—"] if adjoint is None else _cell(adjoint, digits, result.view.digits, False))
        cells += [[str(line.label.lineno) if line.label.lineno is not None else "—"], [line.expression]]
        body.append(cells)
    notes = []
    if hidden:
        notes.append(words["more lines"].format(n=hidden))
    if len(modes.seeds) > len(seeds):
        example = next((seed for seed in modes.seeds if seed not in seeds), modes.seeds[-1])
        notes.append(words["more columns"].format(k=len(seeds), n=len(modes.seeds), example=example))
    return header, body, notes


def _column_seeds(modes: "Modes") -> list:
    """The passes given a column and written out: the scalar inputs', at most TANGENT_COLUMNS; a cell of
    arrays only, its first element's (the others' are in result.tangents, and a note says so)."""
    return modes.scalar_seeds()[:TANGENT_COLUMNS] or list(modes.seeds[:1])


def _cell(value: Any, table_digits: Optional[int], digits: int, shape: bool = True) -> list:
    if np.ndim(value) == 0:
        number = float(np.asarray(value))
        return [fmt_number(number) if table_digits is None else fmt_short(number, table_digits)]
    return list(grid(value, digits, 4, 4, shape=shape)[0])


# ================================================================ the passes


def pass_lines(result: "GradResult") -> list:
    """Each scalar input's pass, line by line, at most TANGENT_COLUMNS of them; then the counts."""
    modes: "Modes" = result.modes
    words = WORDS[result.view.lang]
    digits = result.view.digits
    written = _column_seeds(modes)
    shown, hidden = summarised([line for line in modes.lines if not line.is_input], ROWS_HEAD, ROWS_LIMIT)
    lines = []
    for k, seed in enumerate(written, 1):
        lines.append(words["pass"].format(k=k, n=len(modes.seeds), seed=_seed_name(seed)))
        for i, line in enumerate(shown):
            if hidden and i == ROWS_HEAD:
                lines.append("  " + words["more lines"].format(n=hidden))
            lines.append(f"  {words['line']} {line.label.lineno}: {tangent_sentence(line, modes, seed, digits)}")
        lines.append("  " + _verdict(result, seed, words))
    if len(modes.seeds) > len(written):
        lines.append(words["more passes"].format(n=len(modes.seeds) - len(written)))
    return lines


def tangent_sentence(line: "Line", modes: "Modes", seed: str, digits: int) -> str:
    """'ṗ = p·(1 - p)·ż = 0.25 × 2 = 0.5': the line's tangent from its operands' in the pass of ``seed``."""
    tangents = modes.tangents[seed]
    name = dotted(line.label.name, seed)
    value = tangents[line.label.name]
    if not line.operands:
        return f"{name} = {_number(value, digits)}"
    if any(p is None for p in line.partials):  # arrays: the tangent, with the operands it came from
        operands = ", ".join(dotted(op, seed) for op in line.operands)
        return f"{name} = (from {operands}){' ≈ ' if line.numeric else ' = '}{_number(value, digits)}"
    symbolic, numeric = [], []
    terms = list(zip(line.operands, line.partials, line.locals))
    still = cut = 0
    if len(terms) > MAX_TERMS:  # a long line: the terms whose operand moves in this pass, the first of them
        moving = [term for term in terms if np.any(np.asarray(tangents[term[0]]) != 0)]
        still, cut, terms = len(terms) - len(moving), max(0, len(moving) - MAX_TERMS), moving[:MAX_TERMS]
    for operand, partial, local in terms:
        rule = local_parts(local, digits)[0] if local is not None else f"∂{_operand(line.label.name)}/∂{_operand(operand)}"
        symbolic.append(f"{grouped(rule)}·{dotted(operand, seed)}")
        numeric.append(f"{factor(partial, digits)} × {factor(np.asarray(tangents[operand]).item(), digits)}")
    equals = " ≈ " if line.numeric else " = "  # central differences of a forward with no jvp
    more = f" + … {cut:,} more terms" if cut else ""
    after = f"  ({still:,} other operands do not move in this pass: their terms are 0)" if still else ""
    if not terms:
        return f"{name} = 0{after}"
    return f"{name} = {' + '.join(symbolic)}{more} = {' + '.join(numeric)}{more}{equals}{_number(value, digits)}{after}"


def grouped(rule: str) -> str:
    """A rule with a + or − outside brackets in parentheses, so that '·ẋ' multiplies all of it."""
    depth = 0
    for char in rule[1:]:
        depth += char in "([" and 1 or (char in ")]" and -1 or 0)
        if depth == 0 and char in "+-−":
            return f"({rule})"
    return rule


def _number(value: Any, digits: int) -> str:
    if np.ndim(value) == 0:
        return fmt_short(float(np.asarray(value)), digits)
    return " ".join(grid(value, digits, 4, 4)[0])


def _seed_name(seed: str) -> str:
    """'ẋ', or an element's 'Ẇ1[0,1]'."""
    element = parse_element(seed)
    return dotted(element[0], element[0]) + seed[len(element[0]):] if element else dotted(seed, seed)


def _verdict(result: "GradResult", seed: str, words: dict) -> str:
    modes: "Modes" = result.modes
    forward = float(np.sum(modes.tangents[seed].get(result.target, 0.0)))
    reverse = modes.reverse.get(seed)
    if reverse is None:
        shown, mark = "no gradient (the target does not depend on it)", "✓" if forward == 0 else "✗"
    else:
        reverse_value = float(np.asarray(reverse))
        shown = fmt_short(reverse_value, result.view.digits)
        mark = "✓" if abs(forward - reverse_value) <= modes.tolerance * max(1.0, abs(reverse_value)) else "✗"
    target = _operand(result.target) if modes.target_size == 1 else f"(sum({result.target}))"
    return words["result"].format(t=target, x=_operand(seed),
                                  forward=fmt_short(forward, result.view.digits), reverse=shown, mark=mark)


# ================================================================ the counts


def counts_sentence(modes: "Modes", lang: str = "en") -> str:
    """How many passes each mode needs for the gradients, and whether their gradients agree."""
    n, m, t = modes.forward_passes, modes.reverse_passes, _operand(modes.target)
    per = "one per input" if all(size == 1 for _, size in modes.inputs) else "one per input element"
    inputs = f"all {n} input gradients" if per == "one per input" else f"the gradients of all {n} input elements"
    if m == 1 and n == 1:
        text = "reverse: 1 backward pass; forward: 1 pass (one input and one output: the two cost the same)"
    elif m == 1:
        text = (f"reverse: 1 backward pass gave {inputs}; "
                f"forward: {n} pass{'es' if n != 1 else ''}, {per}")
    elif n == 1:
        text = (f"forward: 1 pass gave the derivatives of all {m} elements of {t}; reverse: {m} passes, one per "
                f"element of {t} (the table's one backward pass gives the gradient of sum({t}) only)")
    else:
        fewer = "forward" if n < m else "reverse" if m < n else "either"
        text = (f"for the whole Jacobian ({m} × {n}): forward needs {n} passes ({per}), reverse {m} (one per "
                f"element of {t}): {fewer} needs fewer")
    agree = ("they agree" if modes.difference <= modes.tolerance else "✗ they DIFFER") + \
        f" (largest relative difference {modes.difference:.1e})".replace("0.0e+00", "0")
    return f"{WORDS[lang]['counts']}{text}. Forward and reverse gradients: {agree}"


# ================================================================ the Hessian


def hessian_table(result: "GradResult") -> tuple:
    """(title, header, rows, lines after): the Hessian over at most HESSIAN_COLUMNS inputs, and one Newton
    step for a single input."""
    second: "Hessian" = result.second
    words = WORDS[result.view.lang]
    k = min(len(second.names), HESSIAN_COLUMNS)
    names = list(second.names[:k])
    rows = [[a] + [fmt_short(second.matrix[i, j], result.view.digits) for j in range(k)] for i, a in enumerate(names)]
    after = [words["hessian cut"].format(k=k, n=len(second.names))] if k < len(second.names) else []
    return words["hessian"].format(t=result.target), [""] + names, rows, after + _newton(result, words)


def hessian_lines(result: "GradResult") -> list:
    """The Hessian as text lines."""
    title, header, rows, after = hessian_table(result)
    widths = column_widths(header, [[[cell] for cell in row] for row in rows])
    return [title, "  " + table_line(header, widths)] + ["  " + table_line(row, widths) for row in rows] + after


def _newton(result: "GradResult", words: dict) -> list:
    second: "Hessian" = result.second
    if len(second.names) != 1:
        return []
    x, t, digits = second.names[0], result.target, result.view.digits
    step = second.newton()
    if step is None:
        return [words["no newton"].format(t=t, x=x, value=fmt_short(second.values[0], digits))]
    value, d1, d2, new = (fmt_short(v, digits) for v in step)
    return [words["newton"].format(x=x, t=t, value=value, d1=factor(step[1], digits), d2=factor(step[2], digits),
                                   new=new)]


# ================================================================ text and HTML


def text_parts(result: "GradResult", width: int) -> list:
    """The text blocks of these views, in order."""
    parts = []
    words = WORDS[result.view.lang]
    if result.modes is not None:
        header, body, notes = table(result)
        title = _legend(result, words)
        parts.append("\n".join([_text_table(header, body, width), "", wrap(title, width)] +
                               [wrap(n, width) for n in notes]))
        passes = pass_lines(result) if result.view.trace else []
        if passes:
            parts.append("\n".join(wrap(line, width) for line in passes))
        parts.append(wrap(counts_sentence(result.modes, result.view.lang), width))
    if result.second is not None:
        parts.append("\n".join(wrap(line, width) for line in hessian_lines(result)))
    return parts


MADE_WIDTHS = (28, 20, 14, 10)  # the 'made by' column is cut to the first of these that lets the table fit


def _legend(result: "GradResult", words: dict) -> str:
    """What the table's columns are, with the first computed line's tangent as the example (ȧ = da/dx)."""
    modes: "Modes" = result.modes
    seed = _column_seeds(modes)[0] if _column_seeds(modes) else (modes.seeds[0] if modes.seeds else "x")
    line = next((line.label.name for line in modes.lines if not line.is_input), result.target)
    example = f"{dotted(line, seed)} = d{_operand(line)}/d{_operand(seed)}" if not dotted(line, seed).startswith("d") \
        else dotted(line, seed)
    key = "both" if result.view.mode == "both" else "forward"
    return words[key].format(t=result.target, x=_operand(seed), example=example)


def _text_table(header: list, body: list, width: int) -> str:
    full = body
    for made in MADE_WIDTHS:
        body = [cells[:-1] + [[short(cells[-1][0], made)]] for cells in full]
        if table_width(header, body) <= width:
            break
    widths = column_widths(header, body)
    if table_width(header, body) > width:
        return "\n".join(line for cells in body for line in stacked(header, cells, width))
    lines = [table_line(header, widths)]
    for cells in body:
        height = max(len(c) for c in cells)
        lines.extend(table_line([c[k] if k < len(c) else "" for c in cells], widths) for k in range(height))
    return "\n".join(lines)


def html_parts(result: "GradResult") -> list:
    """The same blocks as text_parts, as HTML."""
    parts = []
    words = WORDS[result.view.lang]
    if result.modes is not None:
        header, body, notes = table(result)
        title = _legend(result, words)
        made = len(header) - 1
        body = [cells[:-1] + [[short(cells[-1][0], MADE_WIDTHS[0])]] for cells in body]
        head = "".join(f"<th{LEFT if i == made else ''}>{_e(cell)}</th>" for i, cell in enumerate(header))
        rows = "".join("<tr>" + "".join(html_cell(i, cell, made) for i, cell in enumerate(r)) + "</tr>" for r in body)
        parts.append(f'<div class="adiff-modes"><div class="adiff-table-box" style="max-width:100%;overflow-x:auto">'
                     f'<table class="adiff-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
                     f'<p>{_e(title)}</p>' + "".join(f"<p>{_e(n)}</p>" for n in notes) + "</div>")
        passes = pass_lines(result) if result.view.trace else []
        if passes:
            parts.append(_html_lines("adiff-passes", passes))
        parts.append(f'<p class="adiff-counts">{_e(counts_sentence(result.modes, result.view.lang))}</p>')
    if result.second is not None:
        parts.append(_html_hessian(result))
    return parts


def _html_lines(css: str, lines: list) -> str:
    """Heading lines (no indent) as paragraphs, indented ones as code lines under them."""
    out = []
    for line in lines:
        if line.startswith("  "):
            out.append(f'<div{LEFT} style="padding-left:1.5em"><code>{_e(line.strip())}</code></div>')
        else:
            out.append(f"<p>{_e(line)}</p>")
    return f'<div class="{css}">{"".join(out)}</div>'


def _html_hessian(result: "GradResult") -> str:
    title, header, rows, after = hessian_table(result)
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + f"<th><code>{_e(row[0])}</code></th>" + "".join(f"<td>{_e(c)}</td>" for c in row[1:])
                   + "</tr>" for row in rows)
    return (f'<div class="adiff-hessian"><p>{_e(title)}</p><table class="adiff-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table>' + "".join(f"<p>{_e(line)}</p>" for line in after) + "</div>")
