"""Numbers, arrays and source text as short, stable strings, the same in every rendering."""
from __future__ import annotations

from typing import Any

import numpy as np

ARRAY_ITEMS = 6  # arrays with more elements are summarised numpy-style, and say so


def fmt_number(value: Any) -> str:
    """A float in its shortest exact form, without a trailing '.0' (and never −0)."""
    value = float(value)
    text = repr(value + 0.0 if value == 0 else value)  # -0.0 + 0.0 is 0.0
    return text[:-2] if text.endswith(".0") else text


def fmt_short(value: Any, digits: int = 6) -> str:
    """A float to ``digits`` significant digits, for the sentences and pictures (never −0)."""
    value = float(value)
    return f"{value + 0.0 if value == 0 else value:.{digits}g}"


def fmt_array(value: Any) -> str:
    """A number, a small array in full, or a large array summarised numpy-style with its shape."""
    array = np.asarray(value)
    if array.ndim == 0:
        return fmt_number(array)
    if array.size <= ARRAY_ITEMS:
        body = np.array2string(array, separator=", ", max_line_width=10**6, formatter={"float_kind": fmt_number})
        return f"{body} shape {array.shape}"
    body = np.array2string(array, separator=", ", threshold=ARRAY_ITEMS, edgeitems=2, max_line_width=10**6,
                           precision=6)
    return f"{' '.join(body.split())} shape {array.shape}, summarised"


def short(text: str, limit: int = 40) -> str:
    """Source text on one line, cut with '…' past ``limit`` characters (the cell has it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
