"""Building blocks the text and HTML renderings share: aligned tables, summarised sequences, a local
derivative written in the cell's letters, aligned text kept aligned in HTML."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from .fmt import display_width, fill_template as _fill, fmt_short, operand_letters as _letters, pad_to, wrap

if TYPE_CHECKING:
    from .model import Local


def table_width(header: list, body: list) -> int:
    """The display width of a table of cells (each a list of lines), two spaces between columns."""
    widths = column_widths(header, body)
    return sum(widths) + 2 * (len(widths) - 1)


def column_widths(header: list, body: list) -> list:
    """Each column's display width: its widest heading or line."""
    return [max([display_width(header[i])] + [display_width(line) for r in body for line in r[i]])
            for i in range(len(header))]


def stacked(header: list, cells: list, width: int) -> list:
    """One row for a terminal too narrow for the table's columns: 'x  (line 1: 0.5)', then each further
    column as 'heading: value' under it (a grid's rows aligned; a column the row has nothing in left out)."""
    lines = [wrap(f"{cells[0][0]}  ({header[-2]} {cells[-2][0]}: {cells[-1][0]})", width)]
    for heading, cell in zip(header[1:-2], cells[1:-2]):
        if not "".join(cell).strip():
            continue  # an extra column this row has nothing in (--check on a variable that is not an input)
        lead = f"    {heading}: "
        lines.extend([lead + cell[0]] + [" " * display_width(lead) + line for line in cell[1:]])
    return lines


def table_line(texts: list, widths: list) -> str:
    """One line of a table: the texts padded to their columns' widths."""
    return "  ".join(pad_to(text, w) for text, w in zip(texts, widths)).rstrip()


def summarised(items: tuple, head: int, limit: int) -> tuple:
    """(items shown, how many are left out): all of them, or the first and last ``head``."""
    if len(items) <= limit:
        return items, 0
    return tuple(items[:head]) + tuple(items[-head:]), len(items) - 2 * head


def local_parts(local: "Local", digits: int) -> list:
    """The local derivative as written in the cell's letters, with the numbers put in, and its value
    (['2b', '2·1.28403', '2.56805']); a part that repeats the one before it is left out."""
    value = fmt_short(local.value, digits)
    if not local.template:
        return [WORDS_RATIO, value]
    symbolic = _fill(local.template, {k: _letters(v, local.numbers.get(k), digits) for k, v in local.names.items()},
                     local.numbers, digits)
    numeric = _fill(local.template, {}, local.numbers, digits)
    parts = [symbolic]
    if numeric != symbolic:
        parts.append(numeric)
    if not _same_number(parts[-1], local.value, digits):
        parts.append(value)
    return parts


def _same_number(text: str, number: float, digits: int) -> bool:
    """True if ``text`` already writes ``number`` at this precision (one line never shows two roundings)."""
    try:
        written = float(text)
    except ValueError:
        return False
    return written == float(fmt_short(number, digits)) or bool(np.isclose(written, number, rtol=1e-12, atol=0.0))


WORDS_RATIO = "passed ÷ incoming"


# JupyterLab right-aligns table cells; formulas read better from the left. text-align is one of the
# inline styles its sanitiser keeps in untrusted notebooks (unlike <style> or var(--jp-...)).
LEFT = ' style="text-align:left"'


def factor(value: float, digits: int) -> str:
    """A number inside a product or a sum: a negative one in parentheses."""
    text = fmt_short(value, digits)
    return f"({text})" if text.startswith("-") else text


def escape(text: Any) -> str:
    """Text as HTML, quotes included."""
    return html.escape(str(text), quote=True)


def html_block(lines: list) -> str:
    """Lines of aligned text (an array's grid) as HTML that keeps the alignment without CSS (which an
    untrusted notebook drops): spaces as no-break spaces, lines joined by <br>."""
    return "<br>".join(escape(line).replace(" ", "\u00a0") for line in lines)


def html_cell(index: int, lines: list, made: int) -> str:
    """A table cell as HTML: the row's name (index 0) and 'made by' as code, a grid as aligned code."""
    if index == 0:
        return f"<th><code>{escape(lines[0])}</code></th>"
    if index == made:
        return f"<td{LEFT}><code>{escape(lines[0])}</code></td>"
    if len(lines) == 1 and "[" not in lines[0]:
        return f"<td>{escape(lines[0])}</td>"
    return f"<td{LEFT}><code>{html_block(lines)}</code></td>"
