"""Benchmark of the engine against three baselines measured in the same run.

Run from the repository root:  python tests/benchmarks/bench_engine.py   (about 1.5 minutes)

Baselines:
  hand   hand-written numpy forward + backward: forward intermediates kept in a list, backward
         multiplies a running gradient (in place for arrays). The physical floor.
  seed   a copy of the seed notebook's recursive design (Variable.backward calls itself once per
         node), run with a raised recursion limit.
  torch  PyTorch eager autograd on float64 tensors with torch.set_num_threads(1); skipped when
         torch is not installed.

Workloads (timed: forward + backward + freeing the graph; medians of repeats run in interleaved blocks):
  (a) scalar chain   x = 0.5 through 1,000 ops sin, cos, sin, cos... Reported in µs per op.
  (b) array chain    the same chain of 50 ops on a 10^6-element float64 array; time and the
                     tracemalloc peak during forward + backward (one separate run per implementation).
  (c) deep chain     the scalar chain at depth 10^6 in a fresh subprocess at Python's default
                     recursion limit and default gc; wall time and peak RSS. The seed design is run
                     there at depth 10,000 to show that it hits RecursionError.
  (d) lattice        a width-2 lattice of depth 1,000 where every node feeds two or three others:
                     13 ops per level (a leapfrog step of a pendulum-like system, so values stay
                     bounded and gradients stay O(10)); output y = a + b. Gradients are checked
                     against a hand-written reverse mode on Python floats.

  (e) modes          the Jacobian of a wide (ℝ^200 → ℝ) and a tall (ℝ → ℝ^200) function by forward and
                     by reverse mode: passes and medians; jacobian's automatic choice must be the faster.

The script prints PASS/FAIL against each target and always exits with code 0: it is a report.
"""
from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from engine import Variable, cos, sin  # noqa: E402

torch: Any = None  # imported in main(), and not at all by the engine's and the seed's child processes

RESULTS: list = []  # (target, passed, detail) for the summary


# ================================================================ measuring


def interleaved_medians(impls: dict, repeats: int, rounds: int = 5) -> dict:
    """Median seconds of each zero-argument callable over ``repeats`` timed runs.

    The runs come in blocks: per round, each implementation gets one untimed warm-up run and then
    repeats/rounds consecutive timed runs. Blocks keep each one's caches warm (running torch between
    two engine runs slows the engine by ~15%); rounds spread slow drifts of a noisy machine over all.
    """
    times: dict = {name: [] for name in impls}
    for r in range(rounds):
        for name, fn in impls.items():
            fn()
            for _ in range(repeats // rounds + (r < repeats % rounds)):
                gc.collect()
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def traced_peak(fn: Callable[[], Any]) -> int:
    """Bytes: tracemalloc peak while ``fn`` runs (numpy reports its array buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def verdict(target: str, passed: bool, detail: str) -> None:
    RESULTS.append((target, passed, detail))
    print(f"  target: {target}  ->  {'PASS' if passed else 'FAIL'}  ({detail})")


def rel_err(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def table(title: str, rows: list, header: tuple) -> None:
    print(title)
    print("  " + "".join(f"{h:>14}" if i else f"{h:<34}" for i, h in enumerate(header)))
    for row in rows:
        print("  " + "".join(f"{c:>14}" if i else f"{c:<34}" for i, c in enumerate(row)))


# ================================================================ the seed notebook's design


class SeedVariable:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func: "SeedFunction") -> None:
        self.creator = func

    def backward(self) -> None:
        f = self.creator
        if f is not None:
            x = f.input
            x.grad = f.backward(self.grad)
            x.backward()


class SeedFunction:
    def __call__(self, input: SeedVariable) -> SeedVariable:
        x = input.data
        y = self.forward(x)
        output = SeedVariable(y)
        output.set_creator(self)
        self.input = input
        self.output = output
        return output


class SeedSin(SeedFunction):
    def forward(self, x: Any) -> Any:
        return np.sin(x)

    def backward(self, gy: Any) -> Any:
        return np.cos(self.input.data) * gy


class SeedCos(SeedFunction):
    def forward(self, x: Any) -> Any:
        return np.cos(x)

    def backward(self, gy: Any) -> Any:
        return -np.sin(self.input.data) * gy


# ================================================================ chain: sin, cos, sin, cos... (n even)


def engine_forward(x0: Any, n: int) -> tuple:
    x = Variable(x0)
    y = x
    for f in (sin, cos) * (n // 2):
        y = f(y)
    return x, y


def engine_chain(x0: Any, n: int) -> Any:
    x, y = engine_forward(x0, n)
    y.backward()
    return x.grad


def hand_scalar_chain(x0: float, n: int) -> Any:
    y = np.float64(x0)
    xs = []
    for f in (np.sin, np.cos) * (n // 2):
        xs.append(y)
        y = f(y)
    g = np.float64(1.0)
    for i in range(n - 1, 0, -2):
        g = g * -np.sin(xs[i])
        g = g * np.cos(xs[i - 1])
    return g


def hand_array_chain(x0: np.ndarray, n: int) -> np.ndarray:
    y = x0
    xs = []
    for f in (np.sin, np.cos) * (n // 2):
        xs.append(y)
        y = f(y)
    g = np.ones_like(y)
    for i in range(n - 1, 0, -2):
        g *= -np.sin(xs[i])
        g *= np.cos(xs[i - 1])
    return g


def seed_forward(x0: Any, n: int) -> tuple:
    x = SeedVariable(np.asarray(x0, dtype=np.float64))
    y = x
    for f in (SeedSin, SeedCos) * (n // 2):
        y = f()(y)
    return x, y


def seed_chain(x0: Any, n: int) -> Any:
    x, y = seed_forward(x0, n)
    y.grad = np.ones_like(y.data)
    y.backward()
    return x.grad


def torch_forward(x0: Any, n: int) -> tuple:
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    y = x
    for f in (torch.sin, torch.cos) * (n // 2):
        y = f(y)
    return x, y


def torch_chain(x0: Any, n: int) -> np.ndarray:
    x, y = torch_forward(x0, n)
    y.backward(torch.ones_like(y))
    return x.grad.numpy()


# ================================================================ lattice


H = 0.1


def lattice_step(a: Any, b: Any, sin: Callable, cos: Callable) -> tuple:
    """One level, 13 ops: a leapfrog step of H(a, b) = -cos(a)·cos(b)-like dynamics."""
    k = sin(a) * cos(b)  # 3 ops
    bh = b - k * (H / 2)  # 2
    a1 = a + sin(bh) * H  # 3
    k1 = sin(a1) * cos(bh)  # 3
    return a1, bh - k1 * (H / 2)  # 2


def engine_lattice(a0: float, b0: float, depth: int) -> tuple:
    a = a_in = Variable(a0)
    b = b_in = Variable(b0)
    for _ in range(depth):
        a, b = lattice_step(a, b, sin, cos)
    y = a + b
    y.backward()
    return float(y.data), float(a_in.grad), float(b_in.grad)


def torch_lattice(a0: float, b0: float, depth: int) -> tuple:
    a = a_in = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    b = b_in = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    for _ in range(depth):
        a, b = lattice_step(a, b, torch.sin, torch.cos)
    y = a + b
    y.backward()
    return y.item(), a_in.grad.item(), b_in.grad.item()


def hand_lattice(a0: float, b0: float, depth: int) -> tuple:
    """Independent reverse mode on Python floats: forward tape of the values, backward by hand."""
    h2, tape = H / 2, []
    a, b = a0, b0
    for _ in range(depth):
        sa, cb = math.sin(a), math.cos(b)
        bh = b - sa * cb * h2
        a1 = a + math.sin(bh) * H
        sa1, cb1 = math.sin(a1), math.cos(bh)
        tape.append((a, b, sa, cb, bh, a1, sa1, cb1))
        a, b = a1, bh - sa1 * cb1 * h2
    y = a + b
    ga, gb = 1.0, 1.0
    for a, b, sa, cb, bh, a1, sa1, cb1 in reversed(tape):
        gk1 = -h2 * gb  # b1 = bh - k1*h2, k1 = sa1*cb1
        gbh = gb - math.sin(bh) * gk1 * sa1
        ga1 = ga + math.cos(a1) * gk1 * cb1
        gbh += math.cos(bh) * H * ga1  # a1 = a + sin(bh)*H
        gk = -h2 * gbh  # bh = b - k*h2, k = sa*cb
        ga = ga1 + math.cos(a) * gk * cb
        gb = gbh - math.sin(b) * gk * sa
    return y, ga, gb


# ================================================================ workloads


def bench_scalar_chain(n: int = 1000, repeats: int = 50) -> None:
    print(f"\n(a) scalar chain: x = 0.5, {n:,} ops sin, cos, sin, cos..., forward + backward, "
          f"median of {repeats} runs")
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 10 * n))
    try:
        impls = {"engine": lambda: engine_chain(0.5, n),
                 "hand numpy (np.float64)": lambda: hand_scalar_chain(0.5, n),
                 f"seed recursive (limit {10 * n:,})": lambda: seed_chain(0.5, n)}
        if torch is not None:
            impls["torch eager (1 thread)"] = lambda: torch_chain(0.5, n)
        grads = {name: fn() for name, fn in impls.items()}
        medians = interleaved_medians(impls, repeats)
    finally:
        sys.setrecursionlimit(old_limit)
    eng = medians["engine"]
    rows = [(name, f"{t * 1e3:.3f} ms", f"{t / n * 1e6:.2f}", f"{eng / t:.2f}") for name, t in medians.items()]
    table("", rows, ("implementation", "median", "µs/op", "engine / it"))
    err = max(rel_err(g, grads["engine"]) for g in grads.values())
    print(f"  dy/dx = {float(grads['engine']):.12e}; all implementations agree within rel tol 1e-12: "
          f"{'yes' if err <= 1e-12 else 'NO'} (max rel diff {err:.1e})")
    us = eng / n * 1e6
    if torch is None:
        print("  note: torch not installed, the 'faster than PyTorch' half is not checked")
        verdict("(a) engine <= 2.5 us/op", us <= 2.5 and err <= 1e-12, f"{us:.2f} us/op")
    else:
        tt = medians["torch eager (1 thread)"]
        verdict("(a) engine <= 2.5 us/op and faster than torch", us <= 2.5 and eng < tt and err <= 1e-12,
                f"{us:.2f} us/op, torch {tt / n * 1e6:.2f} us/op, engine/torch = {eng / tt:.2f}")


def bench_array_chain(n: int = 50, size: int = 10**6, repeats: int = 7) -> None:
    print(f"\n(b) array chain: {n} ops sin, cos... on a {size:,}-element float64 array, forward + backward, "
          f"median of {repeats} runs")
    x0 = np.linspace(0.0, 1.0, size)
    impls = {"engine": lambda: engine_chain(x0, n), "hand numpy (in-place g *=)": lambda: hand_array_chain(x0, n)}
    if torch is not None:
        impls["torch eager (1 thread)"] = lambda: torch_chain(x0, n)
    grads = {name: fn() for name, fn in impls.items()}
    medians = interleaved_medians(impls, repeats, rounds=3)
    peaks = {name: traced_peak(fn) for name, fn in impls.items() if not name.startswith("torch")}
    eng, hand = medians["engine"], medians["hand numpy (in-place g *=)"]
    rows = []
    for name, t in medians.items():
        peak = f"{peaks[name] / 1e6:.0f} MB" if name in peaks else "n/a"
        ratio = f"{peaks['engine'] / peaks[name]:.3f}" if name in peaks else "n/a"
        rows.append((name, f"{t * 1e3:.1f} ms", f"{eng / t:.3f}", peak, ratio))
    table("", rows, ("implementation", "median", "engine / it", "peak memory", "mem eng / it"))
    print(f"  peak memory = tracemalloc peak during forward + backward (input array excluded; one separate run\n"
          f"  each; torch's allocator is invisible to tracemalloc); one array = {size * 8 / 1e6:.0f} MB")
    ok = all(np.allclose(g, grads["engine"], rtol=1e-9, atol=0) for g in grads.values())
    err = max(rel_err(g, grads["engine"]) for g in grads.values())
    print(f"  gradients agree (allclose, rtol 1e-9): {'yes' if ok else 'NO'} (max rel diff {err:.1e})")
    tr, mr = eng / hand, peaks["engine"] / peaks["hand numpy (in-place g *=)"]
    verdict("(b) engine time <= 1.05x hand numpy", tr <= 1.05 and ok, f"{tr:.3f}x")
    verdict("(b) engine peak memory <= 1.15x hand numpy", mr <= 1.15 and ok, f"{mr:.3f}x")


def run_child(kind: str, n: int) -> dict:
    """Run this script's --child mode in a fresh interpreter; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, str(n)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_deep_chain(n: int = 10**6, engine_runs: int = 3) -> None:
    print(f"\n(c) deep chain: the scalar chain at depth {n:,}, fresh subprocess, default recursion limit "
          f"and gc, forward + backward")
    runs = {"engine": [run_child("engine", n) for _ in range(engine_runs)]}
    if torch is not None:
        runs["torch eager (1 thread)"] = [run_child("torch", n)]
    rows, medians = [], {}
    for name, rs in runs.items():
        good = [r for r in rs if "error" not in r]
        if not good:
            rows.append((name, rs[0]["error"], "", "", "", "", ""))
            continue
        t = statistics.median(r["seconds"] for r in good)
        rss = statistics.median(r["rss_mb"] for r in good)
        medians[name] = (t, rss)
        fwd = statistics.median(r["forward"] for r in good)
        rows.append((name, f"{t:.2f} s", f"{fwd:.2f} s", f"{t / n * 1e6:.2f}", f"{rss:.0f} MB", f"{good[0]['base_mb']:.0f} MB",
                     f"{statistics.median(r['teardown'] for r in good):.2f} s"))
    table(f"  runs: engine {engine_runs} (median), torch 1", rows,
          ("implementation", "fwd+bwd", "of which fwd", "µs/op", "peak RSS", "RSS at start", "teardown"))
    first = runs["engine"][0]
    if "error" not in first:
        print(f"  recursion limit in the child: {first['limit']}; y = {first['y']:.12f}, dy/dx = {first['grad']} "
              f"(a product of 10^6 factors below 1: underflow to 0 is expected)")
    print("  peak RSS = the child's VmHWM (its own peak RSS, including the interpreter and imports; ru_maxrss "
          "is not used\n  because on Linux it keeps the parent's peak across fork+exec); 'RSS at start' is "
          "before the forward pass;\n  teardown = freeing the graph, not counted in fwd+bwd")
    seed = run_child("seed", 10_000)
    print(f"  seed recursive design at depth 10,000, default recursion limit: {seed.get('outcome', seed)}")
    target = "(c) depth 10^6 in <= 4 s and <= 500 MB peak RSS"
    if "engine" in medians:
        t, rss = medians["engine"]
        verdict(target, t <= 4 and rss <= 500, f"{t:.2f} s, {rss:.0f} MB")
    else:
        verdict(target, False, runs["engine"][0]["error"])


def bench_lattice(depth: int = 1000, repeats: int = 15) -> None:
    ops = 13 * depth + 1
    print(f"\n(d) lattice: width 2, depth {depth:,}, 13 ops per level ({ops:,} ops, shared nodes), y = a + b, "
          f"forward + backward, median of {repeats} runs")
    impls = {"engine": lambda: engine_lattice(0.3, 0.7, depth),
             "hand reverse mode (floats)": lambda: hand_lattice(0.3, 0.7, depth)}
    if torch is not None:
        impls["torch eager (1 thread)"] = lambda: torch_lattice(0.3, 0.7, depth)
    results = {name: fn() for name, fn in impls.items()}
    medians = interleaved_medians(impls, repeats)
    eng = medians["engine"]
    rows = [(name, f"{t * 1e3:.2f} ms", f"{t / ops * 1e6:.2f}", f"{eng / t:.2f}") for name, t in medians.items()]
    table("", rows, ("implementation", "median", "µs/op", "engine / it"))
    y, ga, gb = results["engine"]
    sane = all(math.isfinite(v) for v in (y, ga, gb)) and max(abs(ga), abs(gb)) > 1e-3
    err = max(rel_err(r, results["engine"]) for r in results.values())
    print(f"  engine: y = {y:.12f}, dy/da0 = {ga:.12f}, dy/db0 = {gb:.12f}; finite and not ~0: "
          f"{'yes' if sane else 'NO'}")
    print(f"  agree with the other implementations within rel tol 1e-9: {'yes' if err <= 1e-9 else 'NO'} "
          f"(max rel diff {err:.1e})")
    correct = sane and err <= 1e-9
    if torch is None:
        print("  note: torch not installed, the 'faster than PyTorch' half is not checked")
        verdict("(d) lattice correct", correct, f"max rel diff {err:.1e}")
    else:
        tt = medians["torch eager (1 thread)"]
        verdict("(d) lattice correct and faster than torch", correct and eng < tt,
                f"max rel diff {err:.1e}, engine/torch = {eng / tt:.2f}")


# ================================================================ child mode (for (c))


def bench_modes(n: int = 200, repeats: int = 7) -> None:
    """(e) forward against reverse mode: the Jacobian of a wide function (n inputs, one output) and of a
    tall one (one input, n outputs), each computed both ways; the passes and the medians."""
    from engine import jacobian, sin, tanh

    weights = np.random.default_rng(0).normal(size=n)
    wide = lambda v: (sin(v) * weights).sum()  # noqa: E731  ℝⁿ → ℝ
    tall = lambda v: tanh(v * weights)  # noqa: E731  ℝ → ℝⁿ (v has one element)
    cases = {"wide, ℝ^n → ℝ": (wide, np.linspace(-1.0, 1.0, n)), "tall, ℝ → ℝ^n": (tall, np.array([0.3]))}
    rows = []
    for label, (f, x) in cases.items():
        times = interleaved_medians({mode: (lambda f=f, x=x, mode=mode: jacobian(f, x, mode=mode))
                                     for mode in ("forward", "reverse")}, repeats)
        passes = {mode: jacobian(f, x, mode=mode, with_mode=True)[1]["passes"] for mode in ("forward", "reverse")}
        chosen = jacobian(f, x, with_mode=True)[1]["mode"]
        fast = min(times, key=times.get)
        rows.append((label, f"{passes['forward']} / {times['forward'] * 1e3:.1f} ms",
                     f"{passes['reverse']} / {times['reverse'] * 1e3:.1f} ms", chosen,
                     f"{max(times.values()) / min(times.values()):.0f}×"))
        verdict(f"jacobian picks the faster mode ({label})", chosen == fast,
                f"picked {chosen}; forward {times['forward'] * 1e3:.1f} ms, reverse {times['reverse'] * 1e3:.1f} ms")
    table(f"\n(e) forward and reverse mode, n = {n}: passes / median", rows,
          ("function", "forward", "reverse", "auto picks", "ratio"))


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB: VmHWM on Linux, else ru_maxrss.

    On Linux ru_maxrss survives execve, so a child started from a large parent reports the parent's
    peak; VmHWM belongs to the address space that exec created, so it is this process's own peak.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024 / 1e6
    except (OSError, StopIteration):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return kib * 1024 / 1e6


def child(kind: str, n: int) -> None:
    """Forward + backward of a depth-n chain; prints one JSON line."""
    out: dict = {"limit": sys.getrecursionlimit()}
    if kind == "seed":
        x, y = seed_forward(0.5, n)
        y.grad = np.ones_like(y.data)
        try:
            y.backward()
            out["outcome"] = f"no error at depth {n:,}"
        except RecursionError:
            out["outcome"] = f"RecursionError at depth {n:,} (limit {out['limit']:,})"
        print(json.dumps(out))
        return
    forward = engine_forward if kind == "engine" else torch_forward
    base = peak_rss_mb()
    start = time.perf_counter()
    x, y = forward(0.5, n)
    out["forward"] = time.perf_counter() - start
    y.backward()
    out["seconds"] = time.perf_counter() - start
    out["y"], out["grad"] = (float(y.data), float(x.grad)) if kind == "engine" else (y.item(), x.grad.item())
    out["rss_mb"], out["base_mb"] = peak_rss_mb(), base
    start = time.perf_counter()
    del x, y
    out["teardown"] = time.perf_counter() - start
    print(json.dumps(out))


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def main() -> None:
    global torch
    is_child = len(sys.argv) == 4 and sys.argv[1] == "--child"
    if not is_child or sys.argv[2] == "torch":
        torch = import_torch()
    if is_child:
        child(sys.argv[2], int(sys.argv[3]))
        return
    started = time.perf_counter()
    print(f"engine benchmark: python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ + ' (torch.set_num_threads(1))' if torch is not None else 'not installed'}, "
          f"{os.cpu_count()} cpus")
    if torch is None:
        print("note: torch is not installed; the PyTorch baseline is skipped")
    bench_scalar_chain()
    bench_array_chain()
    bench_deep_chain()
    bench_lattice()
    bench_modes()
    print(f"\nsummary ({time.perf_counter() - started:.0f} s):")
    for target, passed, detail in RESULTS:
        print(f"  {'PASS' if passed else 'FAIL'}  {target:<52} {detail}")


if __name__ == "__main__":
    main()
