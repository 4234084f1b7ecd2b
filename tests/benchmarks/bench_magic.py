"""Benchmark of the %%grad magic (not a pytest test): run ``python tests/benchmarks/bench_magic.py``.

Three cells, each timed two ways, medians over repeats:
  pipeline  parse + run (forward, backward with the tracer) + render text + render HTML
  shell     the whole magic in a real IPython InteractiveShell, including IPython's formatting
            of the returned result into text/plain and text/html, as a notebook would see it
Output size is the text/plain plus the text/html of the result, in bytes (UTF-8).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from adiff_magic.parser import parse  # noqa: E402
from adiff_magic.render import to_html, to_text  # noqa: E402
from adiff_magic.runner import run  # noqa: E402

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
LOOP = "x = 0.5\ny = x\nfor k in range(10000):\n    y = sin(y) + x\n"  # 20,000 function nodes
BIG = "x = np.linspace(0, 1, 10**6)\ny = sum(sin(x) * x)\n"

CASES = [  # name, cell, repeats, time target (s), output target (bytes)
    ("seed cell (4 lines)", SEED, 200, 0.005, None),
    ("loop making 20,000 nodes", LOOP, 5, 2.0, 200_000),
    ("cell on a 10^6-element array", BIG, 5, 1.0, 50_000),
]


def median_time(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``action`` over ``repeats`` runs, after one warm-up."""
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pipeline(cell: str) -> int:
    """parse, run and render; return the output size in bytes."""
    result, _ = run(parse(cell), {})
    return len(to_text(result).encode()) + len(to_html(result).encode())


def shell_magic(ip: InteractiveShell, cell: str) -> int:
    """The magic through IPython, formatted as a notebook front end would ask."""
    result = ip.run_cell_magic("grad", "", cell)
    data, _ = ip.display_formatter.format(result)
    return len(data["text/plain"].encode()) + len(data["text/html"].encode())


def main() -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "adiff_magic")
    ip.run_cell("import numpy as np")
    print(f"%%grad benchmark: python {sys.version.split()[0]}, medians\n")
    print(f"  {'cell':32} {'pipeline':>10} {'shell':>10} {'output':>10} {'target':>18}  verdict")
    verdicts = []
    for name, cell, repeats, time_target, size_target in CASES:
        piped = median_time(lambda: pipeline(cell), repeats)
        shelled = median_time(lambda: shell_magic(ip, cell), repeats)
        size = shell_magic(ip, cell)
        ok = shelled <= time_target and (size_target is None or size <= size_target)
        target = f"≤{time_target * 1000:g} ms" + (f", ≤{size_target // 1000} KB" if size_target else "")
        verdicts.append(ok)
        print(f"  {name:32} {piped * 1000:8.2f}ms {shelled * 1000:8.2f}ms {size / 1000:8.1f}KB {target:>18}  "
              f"{'PASS' if ok else 'FAIL'}")
    print(f"\n{sum(verdicts)}/{len(verdicts)} targets met (the verdict uses the shell time)")


if __name__ == "__main__":
    main()
