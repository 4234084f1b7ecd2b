"""Numbers, arrays and source text as short, stable strings, the same in every rendering."""
from __future__ import annotations

import textwrap
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
    body = np.array2string(array, separator=", ", threshold=ARRAY_ITEMS, edgeitems=2, max_line_width=10**6,
                           formatter={"float_kind": lambda v: fmt_short(v, digits or 6)})
    return f"{' '.join(body.split())} shape {array.shape}, summarised"


def short(text: str, limit: int = 40) -> str:
    """Source text on one line, cut with '…' past ``limit`` characters (the cell has it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wrap(line: str, width: int) -> str:
    """``line`` broken between words to ``width`` columns, continuing under its own indent plus four
    spaces; a number is never split (a word longer than the width stays whole)."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    lines: list = []
    for part in _clauses(line):  # a break after ';' comes first: it keeps each product on one line
        if lines and len(lines[-1] + part.rstrip()) <= width:
            lines[-1] += part
            continue
        text = part if not lines else indent + part.lstrip()
        wrapped = textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                                break_on_hyphens=False, drop_whitespace=True) or [text]
        wrapped[-1] += part[len(part.rstrip()):]  # the separator's spaces, should the next clause join this line
        lines.extend(wrapped)
    return "\n".join(line.rstrip() for line in lines)


def _clauses(line: str) -> list:
    """``line`` cut after each ';' (the separator stays with the clause before it)."""
    parts = line.split(";  ")
    return [part + ";  " for part in parts[:-1]] + [parts[-1]]
