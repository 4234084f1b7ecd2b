"""Numbers, arrays and source text as short, stable strings, the same in every rendering."""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Optional

import numpy as np

ARRAY_ITEMS = 6  # arrays with more elements are summarised numpy-style, and say so


def fmt_number(value: Any) -> str:
    """A float in its shortest exact form, without a trailing '.0' (and never −0)."""
    value = float(value)
    text = repr(value + 0.0 if value == 0 else value)  # -0.0 + 0.0 is 0.0
    return text[:-2] if text.endswith(".0") else text


def fmt_short(value: Any, digits: int = 6) -> str:
    """A float to ``digits`` significant digits, for the sentences and pictures (never −0); its
    shortest exact form when that has no more digits (0.1, not 0.10000000000000001)."""
    value = float(value)
    exact = fmt_number(value)
    mantissa = exact.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    if len(mantissa) <= digits:
        return exact
    return f"{value + 0.0 if value == 0 else value:.{digits}g}"


def fmt_array(value: Any, digits: Optional[int] = None) -> str:
    """A number, a small array in full, or a large array summarised numpy-style with its shape; every
    digit, or ``digits`` significant ones (a summarised array: 6 unless told). Always one line."""
    array = np.asarray(value)
    number = fmt_number if digits is None else (lambda v: fmt_short(v, digits))
    if array.ndim == 0:
        return number(array)
    if array.size <= ARRAY_ITEMS:
        body = np.array2string(array, separator=", ", max_line_width=10**6, formatter={"float_kind": number})
        return f"{' '.join(body.split())} shape {array.shape}"
    if max(array.shape) <= 4:  # numpy cuts an axis only past 2 + 2 (edgeitems): all shown, none rounded either
        body = np.array2string(array, separator=", ", threshold=array.size, max_line_width=10**6,
                               formatter={"float_kind": number})
        return f"{' '.join(body.split())} shape {array.shape}"
    body = np.array2string(array, separator=", ", threshold=ARRAY_ITEMS, edgeitems=2, max_line_width=10**6,
                           formatter={"float_kind": lambda v: fmt_short(v, digits or 6)})
    return f"{' '.join(body.split())} shape {array.shape}, summarised"


GRID_ROWS = 6  # a grid shows at most this many rows and columns; "…" stands for the rest
GRID_COLUMNS = 6


def grid(value: Any, digits: Optional[int] = 6, columns: int = GRID_COLUMNS, rows: int = GRID_ROWS,
         shape: bool = True) -> tuple:
    """(lines, elided): an array as its shape, then its values like numpy's repr, rows on lines and
    columns aligned, each at ``digits`` significant digits (None: every digit); past ``rows`` rows or
    ``columns`` columns, the middle ones are '…'. A 0-d value is its number, on one line; ``shape``
    False leaves the shape out (a column that shows it already)."""
    array = np.asarray(value)
    number = fmt_number if digits is None else (lambda v: fmt_short(v, digits))
    if array.ndim == 0:
        return [number(array)], False
    shape = f"{array.shape} " if shape else ""
    flat = array.ndim > 2
    table = array.reshape(1, -1) if array.ndim == 1 or flat else array
    cells, elided = _elided_cells(table, number, columns, rows)
    widths = [max(display_width(row[j]) for row in cells) for j in range(len(cells[0]))] if cells[0] else []
    texts = [" ".join(_right(cell, w) for cell, w in zip(row, widths)) for row in cells]
    if array.ndim == 1 or flat:
        lines = [f"{shape}[{texts[0]}]" + (" (flattened)" if flat else "")]
    else:
        pad = " " * len(shape)
        lines = [f"{shape if i == 0 else pad}{'[[' if i == 0 else ' ['}{text}]{']' if i == len(texts) - 1 else ''}"
                 for i, text in enumerate(texts)]
    return lines, elided


def _elided_cells(table: np.ndarray, number: Any, columns: int, rows: int) -> tuple:
    """The texts of a 2-D table's cells shown, with '…' for the rows and columns left out."""
    row_keep, rows_cut = _kept(table.shape[0], rows)
    col_keep, cols_cut = _kept(table.shape[1], columns)
    cells = [["…"] * len(col_keep) if i is None else ["…" if j is None else number(table[i, j]) for j in col_keep]
             for i in row_keep]
    return cells, rows_cut or cols_cut


def _kept(n: int, limit: int) -> tuple:
    """The indices shown of ``n`` (None where '…' stands), and whether any is left out."""
    if n <= limit + 1:  # a '…' for one number would save nothing
        return list(range(n)), False
    head = max(limit // 2, 1)  # 6 -> the first 3, '…', the last 2
    tail = max(limit - head - 1, 1)
    return list(range(head)) + [None] + list(range(n - tail, n)), True


def _right(text: str, width: int) -> str:
    return " " * (width - display_width(text)) + text


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide and full-width characters count two,
    combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def pad_to(text: str, width: int) -> str:
    """``text`` with spaces after it up to ``width`` display columns."""
    return text + " " * (width - display_width(text))


def short(text: str, limit: int = 40) -> str:
    """Source text on one line, cut with '…' past ``limit`` characters (the cell has it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wrap(line: str, width: int) -> str:
    """``line`` broken between words to ``width`` display columns (a wide character takes two),
    continuing under its own indent plus four spaces; a number is never split (a word longer than the
    width stays whole). Lines already broken (an array's grid) are wrapped one by one."""
    if "\n" in line:
        return "\n".join(wrap(part, width) for part in line.split("\n"))
    if display_width(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    lines: list = []
    for part in _clauses(line):  # a break after ';' comes first: it keeps each product on one line
        if lines and display_width(lines[-1] + part.rstrip()) <= width:
            lines[-1] += part
            continue
        wrapped = _greedy(part if not lines else indent + part.lstrip(), width, indent)
        wrapped[-1] += part[len(part.rstrip()):]  # the separator's spaces, should the next clause join this line
        lines.extend(wrapped)
    return "\n".join(line.rstrip() for line in lines)


def _greedy(text: str, width: int, indent: str) -> list:
    """``text`` as lines of at most ``width`` display columns, broken at spaces (kept as written inside
    a line), the lines after the first under ``indent``."""
    lines, space = [""], ""
    for token in re.findall(r"\S+|\s+", text):
        if token.isspace():
            space = token
            continue
        if lines[-1].strip() and display_width(lines[-1] + space + token) > width:
            lines.append(indent + token)
        else:
            lines[-1] += space + token
        space = ""
    return lines


def _clauses(line: str) -> list:
    """``line`` cut after each ';' (the separator stays with the clause before it)."""
    parts = line.split(";  ")
    return [part + ";  " for part in parts[:-1]] + [parts[-1]]


# ---------------------------------------------------------------- formulas in the cell's letters

NAMED = re.compile(r"[^\W\d]\w*(#\d+)?")  # a label the cell bound ('p', 'y#2'), not source text ('w*x')
OPERAND = 24  # operands longer than this are cut with '…' inside a step's lines


def operand_letters(name: Any, number: Any, digits: int) -> str:
    """An operand as the cell writes it; a literal constant as its number."""
    if name is None:
        return fmt_short(number, digits) if number is not None else "?"
    name = short(name, OPERAND)
    return name if is_atom(name) else f"({name})"


def is_atom(text: str) -> bool:
    """A name ('b', 'y#2'), possibly called or indexed ('exp(square(x))', 'p[1]'): it needs no
    parentheses inside a formula."""
    if NAMED.fullmatch(text):
        return True
    head = re.match(r"[A-Za-z_][\w.]*", text)
    if head is None:
        return False
    depth, closes = 0, {")": "(", "]": "["}
    for char in text[head.end():]:
        if depth == 0 and char not in "([":
            return False  # something after a name or a closed group: 'f(a) + b', 'x * y'
        if char in "([":
            depth += 1
        elif char in closes:
            depth -= 1
    return depth == 0


def fill_template(template: str, names: dict, numbers: dict, digits: int) -> str:
    """The template with ``names`` where given and numbers elsewhere (a negative one in parentheses
    unless it leads); no double parentheses."""
    filled = {}
    for key, number in numbers.items():
        text = names.get(key) or (fmt_short(number, digits) if np.ndim(number) == 0 else str(number))
        slot = "{" + key + "}"
        if text.startswith("(") and text.endswith(")") and (f"({slot})" in template or template == slot):
            text = text[1:-1]
        elif text.startswith("-") and not template.startswith(slot):
            text = f"({text})"
        filled[key] = text
    try:
        return template.format(**filled)
    except (KeyError, IndexError, ValueError):
        return template
