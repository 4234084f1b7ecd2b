"""Benchmark of the %%grad magic (not a pytest test): run ``python tests/benchmarks/bench_magic.py``.

Three cells, each timed two ways, medians over repeats:
  pipeline  parse + run (forward, backward with the tracer) + render text + render HTML
  shell     the whole magic in a real IPython InteractiveShell, including IPython's formatting
            of the returned result into text/plain and text/html, as a notebook would see it
Output size is the text/plain plus the text/html of the result, in bytes (UTF-8).

Then the cost of big cells (issue 9: it must grow linearly with the cell), each row with the one
measure its target is about, medians too:
  parse     parse() alone
  pipeline  as above
  per step  the tracer's and the renderer's cost per backward step: a backward with the Tracer
            minus the same backward with a hook that does nothing, plus rendering the result
            (text and HTML), over the number of steps
  output    the text/plain plus text/html bytes of the whole magic in the shell

Then --graph on two cells of 60 nodes, the most a picture shows:
  warm      the whole magic with --graph, its display (SVG, PNG, text) captured, and its ratio to
            the same cell without --graph, both medians in this run
  cold      the first --graph in a fresh process: IPython and the extension loaded, nothing drawn yet
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

from adiff_magic.parser import parse  # noqa: E402
from adiff_magic.render import to_html, to_text  # noqa: E402
from adiff_magic.runner import run  # noqa: E402

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
LOOP = "x = 0.5\ny = x\nfor k in range(10000):\n    y = sin(y) + x\n"  # 20,000 function nodes
BIG = "x = np.linspace(0, 1, 10**6)\ny = sum(sin(x) * x)\n"


def chain(lines: int) -> str:
    """A straight-line cell: x = 0.5, v1 = sin(x), v2 = sin(v1), ... (``lines`` lines)."""
    return "x = 0.5\nv1 = sin(x)\n" + "".join(f"v{i} = sin(v{i - 1})\n" for i in range(2, lines))


SUM = "x = 0.5\ny = " + " + ".join(f"x*{i}" for i in range(1, 2001)) + "\n"  # one line, 2,000 terms
STEPS_LOOP = "x = 0.5\ny = x\nfor k in range(50000):\n    y = sin(y) + x\n"  # 100,000 backward steps
DESCENT = ("w = 5.0\nfor k in range(3000):\n    lr = 0.01\n    y = square(w)\n    y.backward()\n"
           "    w = Variable(w.data - lr.data * w.grad)\ny = square(w)\n")  # rebinds lr and w: 6,002 table rows

MATMUL_CHECK = ("A = np.random.default_rng(0).standard_normal((400, 400))\n"
                "B = np.random.default_rng(1).standard_normal((400, 400))\ny = sum(A @ B)\n")  # --check: 200 replays

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


def shell_magic(ip: InteractiveShell, cell: str, line: str = "") -> int:
    """The magic through IPython, formatted as a notebook front end would ask."""
    result = ip.run_cell_magic("grad", line, cell)
    data, _ = ip.display_formatter.format(result)
    return len(data["text/plain"].encode()) + len(data["text/html"].encode())


def tracer_cost_per_step(repeats: int) -> float:
    """Seconds per backward step that the Tracer and the rendering add, on STEPS_LOOP's graph built
    with the engine alone: median over ``repeats`` of (backward with the Tracer - backward with a
    hook that does nothing + to_text + to_html) / steps. The garbage collector stays on."""
    from adiff_magic.result import GradResult
    from adiff_magic.trace import Label, Tracer
    from engine import Variable, sin

    labels = {}  # a labeller as cheap as can be, so that the tracer's own cost is measured

    def graph() -> Variable:
        x = Variable(0.5)
        labels.update(x=x, x_label=Label("x", 1), y_label=Label("y", 4))
        y = x
        for _ in range(50_000):
            y = sin(y) + x
        return y

    def label(v: Variable) -> Label:
        return labels["x_label"] if v is labels["x"] else labels["y_label"]

    def backward(hook: Callable) -> float:
        y = graph()
        start = time.perf_counter()
        y.backward(retain_grad=True, hook=hook)
        return time.perf_counter() - start

    costs = []
    for _ in range(repeats):
        plain = backward(lambda *args: None)
        tracer = Tracer(label, lambda lineno: "    y = sin(y) + x")
        traced = backward(tracer)
        start = time.perf_counter()
        result = GradResult(target="y", rows=(), steps=tuple(tracer.steps), values={}, grads={})
        to_text(result), to_html(result)
        rendered = time.perf_counter() - start
        costs.append((traced - plain + rendered) / len(tracer.steps))
    return statistics.median(costs)


BIG_CELLS = [  # name, what is measured, how, repeats, target (s, or bytes for "output")
    ("3,000-line straight-line cell", "parse", lambda ip: parse(chain(3000)), 7, 0.3),
    ("800-line straight-line cell", "pipeline", lambda ip: pipeline(chain(800)), 5, 0.5),
    ("one line, a sum of 2,000 terms", "shell", lambda ip: shell_magic(ip, SUM), 5, 1.0),
    ("loop, 100,000 backward steps", "shell", lambda ip: shell_magic(ip, STEPS_LOOP), 3, 1.5),
    ("  the tracer + renderer", "per step", None, 3, 10e-6),
    ("3,000-step descent rebinding lr, w", "output", lambda ip: shell_magic(ip, DESCENT), 3, 100_000),
    ("--check on a 400×400 matmul", "shell", lambda ip: shell_magic(ip, MATMUL_CHECK, "--check"), 3, 2.0),
]


def per_pass_loop(passes: int) -> str:
    """Issue 15's loop: a new input (the learning rate) on each pass, so 2^passes paths from w#1."""
    return f"w = 1.0\nfor i in range({passes}):\n    lr = 0.01\n    w = w - lr * w\nloss = w\n"


MANY_INPUTS = "".join(f"x{i} = {0.01 * (i + 1)}\n" for i in range(200)) + \
    "y = " + " + ".join(f"sin(x{i}) * x{(i + 1) % 200}" for i in range(200)) + "\n"  # 200 inputs, one line


def step_model_ratio(cell: str, repeats: int) -> tuple:
    """(static, step): median seconds of the static output (run_recorded, then text and HTML) and of
    building the --step model from the same recorded run."""
    from adiff_magic.runner import run_recorded
    from adiff_magic.stepper import step_model

    recorded = run_recorded(parse(cell), {})[2]
    static = median_time(lambda: pipeline(cell), repeats)
    step = median_time(lambda: step_model(recorded), repeats)
    return static, step


def views_bounded(ip: InteractiveShell) -> list:
    """Issue 15's rows: a loop with a per-pass input (time, growth, output), 200 inputs (output),
    and the --step model against the static output. Print them; return the verdicts."""
    verdicts = []
    print(f"\n  {'bounded views':36} {'median':>9} {'text':>9} {'html':>9} {'target':>22}  verdict")
    times = {}
    for passes, target in ((1000, 0.5), (3000, 1.5)):
        cell = per_pass_loop(passes)
        times[passes] = median_time(lambda: shell_magic(ip, cell), 3)
        verdicts.append(_row(ip, f"loop, an input per pass, {passes:,} passes", cell, times[passes], target))
    growth = times[3000] / times[1000]
    verdicts.append(growth <= 3.5)
    print(f"  {'  time(3,000) / time(1,000)':36} {growth:8.2f}× {'':>9} {'':>9} {'≤3.5×':>22}  "
          f"{'PASS' if growth <= 3.5 else 'FAIL'}")
    verdicts.append(_row(ip, "200 inputs, one line", MANY_INPUTS, median_time(lambda: shell_magic(ip, MANY_INPUTS), 3),
                         None))
    for name, cell in (("seed cell", SEED), ("loop, an input per pass, 1,000", per_pass_loop(1000)),
                       ("800-line straight-line cell", chain(800))):
        static, step = step_model_ratio(cell, 3)
        ok = step <= 2 * static
        verdicts.append(ok)
        print(f"  {'--step model: ' + name:36} {step * 1000:7.1f}ms {'':>9} {'':>9} "
              f"{f'≤2× static ({static * 1000:.1f} ms)':>22}  {'PASS' if ok else 'FAIL'}  ({step / static:.2f}×)")
    return verdicts


def mode_rows(ip: InteractiveShell) -> list:
    """Issue 18's rows: --mode both and --hessian against the plain cell measured in the same run (the
    forward passes cost a pass per input, within forward.MAX_JVPS functions in all), their output bounded."""
    verdicts = []
    print(f"\n  {'--mode / --hessian':36} {'median':>9} {'text':>9} {'html':>9} {'target':>22}  verdict")
    for name, cell, line, ratio in (("seed cell, --mode both", SEED, "--mode both", 3.0),
                                    ("seed cell, --hessian", SEED, "--hessian", 3.0),
                                    ("200 inputs, --mode both", MANY_INPUTS, "--mode both", 8.0),
                                    ("loop, an input per pass, 1,000, both", per_pass_loop(1000), "--mode both", 10.0)):
        plain = median_time(lambda: shell_magic(ip, cell), 3)
        seconds = median_time(lambda: shell_magic(ip, cell, line), 3)
        verdicts.append(_row(ip, name, cell, seconds, ratio * plain, line))
        print(f"  {'  against the plain cell':36} {seconds / plain:8.2f}× {'':>9} {'':>9} {f'≤{ratio:g}×':>22}")
    return verdicts


def _row(ip: InteractiveShell, name: str, cell: str, seconds: float, target: float | None, line: str = "") -> bool:
    """One row: time (against ``target`` if any) and the text and HTML each ≤ 100 KB."""
    data, _ = ip.display_formatter.format(ip.run_cell_magic("grad", line, cell))
    text, html = len(data["text/plain"].encode()), len(data["text/html"].encode())
    ok = (target is None or seconds <= target) and text <= 100_000 and html <= 100_000
    wanted = (f"≤{target * 1000:g} ms, " if target else "") + "≤100 KB each"
    print(f"  {name:36} {seconds * 1000:7.0f}ms {text / 1000:7.1f}KB {html / 1000:7.1f}KB {wanted:>22}  "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


def big_cells(ip: InteractiveShell) -> list:
    """Print one row per BIG_CELLS entry; return the verdicts."""
    print(f"\n  {'big cell':36} {'measure':>9} {'median':>11} {'output':>9} {'target':>10}  verdict")
    verdicts = []
    for name, what, action, repeats, target in BIG_CELLS:
        size = None
        if what == "per step":
            measured = tracer_cost_per_step(repeats)
            shown, target_shown = f"{measured * 1e6:7.2f}µs", f"≤{target * 1e6:g} µs"
        elif what == "output":
            measured = median_time(lambda: action(ip), repeats)
            size = action(ip)
            shown, target_shown = f"{measured * 1000:7.0f}ms", f"≤{target // 1000} KB"
        else:
            measured = median_time(lambda: action(ip), repeats)
            if what != "parse":
                size = action(ip)
            shown, target_shown = f"{measured * 1000:7.0f}ms", f"≤{target * 1000:g} ms"
        ok = (size if what == "output" else measured) <= target
        verdicts.append(ok)
        output = f"{size / 1000:7.1f}KB" if size is not None else ""
        print(f"  {name:36} {what:>9} {shown:>11} {output:>9} {target_shown:>10}  {'PASS' if ok else 'FAIL'}")
    return verdicts


NET_60 = ("x = 0.5\nw1 = 0.3\nb1 = 0.1\nw2 = -0.7\nb2 = 0.2\nh1 = tanh(w1 * x + b1)\nh2 = sigmoid(w2 * x + b2)\n"
          "h3 = sin(h1 * h2)\nz = h1 * 1.5 + h2 * 0.5 - h3\nloss = square(z - 1.0) + exp(-z) + log(1 + square(h3))\n"
          "loss = loss + square(w1) + 0.5 * w2\n")
LOOP_60 = "x = 0.5\nw = 2.0\ny = x\nfor k in range(9):\n    y = tanh(y * w) + x\nloss = exp(square(y))\n"
GRAPH_CELLS = [("a small net, 25 functions", NET_60), ("a loop of 9 steps, 29 functions", LOOP_60)]  # 60 nodes each
GRAPH_WARM, GRAPH_COLD = 0.150, 1.0  # s
COLD = """
import time
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "adiff_magic")
start = time.perf_counter()
with capture_output():
    ip.run_cell_magic("grad", "--graph", {cell!r})
print(time.perf_counter() - start)
"""


def graph_magic(ip: InteractiveShell, cell: str, line: str) -> str:
    """The magic through IPython, its displays captured; return the picture's size, 'W×H px' (with --graph)."""
    with capture_output() as captured:
        ip.run_cell_magic("grad", line, cell)
    svg = next((o.data["image/svg+xml"] for o in captured.outputs if "image/svg+xml" in o.data), "")
    return "×".join(re.findall(r'(?:width|height)="(\d+)"', svg)[:2]) + " px"


def cold_first_graph(cell: str) -> float:
    """Seconds of the first --graph in a fresh process (IPython and the extension already loaded)."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    done = subprocess.run([sys.executable, "-c", COLD.format(cell=cell)], cwd=root, capture_output=True,
                          text=True, check=True)
    return float(done.stdout)


def graph_rows(ip: InteractiveShell) -> list:
    """Print the warm rows of --graph and the cold one; return the verdicts."""
    print(f"\n  {'--graph, cells of 60 nodes':36} {'measure':>9} {'median':>11} {'ratio':>9} "
          f"{'target':>10}  verdict   picture, and the cell without --graph")
    verdicts = []
    for name, cell in GRAPH_CELLS:
        drawn = median_time(lambda: graph_magic(ip, cell, "--graph"), 15)
        plain = median_time(lambda: graph_magic(ip, cell, ""), 15)
        verdicts.append(drawn <= GRAPH_WARM)
        print(f"  {name:36} {'warm':>9} {drawn * 1000:7.0f}ms {drawn / plain:8.0f}× "
              f"{f'≤{GRAPH_WARM * 1000:g} ms':>10}  {'PASS' if verdicts[-1] else 'FAIL'}      "
              f"{graph_magic(ip, cell, '--graph')}, {plain * 1000:.1f} ms")
    cold = statistics.median(cold_first_graph(LOOP_60) for _ in range(3))
    verdicts.append(cold <= GRAPH_COLD)
    print(f"  {'  the loop, first in a new process':36} {'cold':>9} {cold * 1000:7.0f}ms {'':>9} "
          f"{f'≤{GRAPH_COLD * 1000:g} ms':>10}  {'PASS' if verdicts[-1] else 'FAIL'}")
    return verdicts


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
    big = big_cells(ip)
    print(f"\n{sum(big)}/{len(big)} big-cell targets met (each verdict on its own measure)")
    bounded = views_bounded(ip)
    print(f"\n{sum(bounded)}/{len(bounded)} bounded-view targets met")
    modes = mode_rows(ip)
    print(f"\n{sum(modes)}/{len(modes)} --mode / --hessian targets met")
    drawn = graph_rows(ip)
    print(f"\n{sum(drawn)}/{len(drawn)} --graph targets met")


if __name__ == "__main__":
    main()
