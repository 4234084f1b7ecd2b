"""The hardening summary for an issue note (not a pytest test): ``python tests/benchmarks/hardening_figures.py``.

Prints, as short aligned text:
  * each Hypothesis property (tests/test_properties.py, tests/test_magic_properties.py) run with
    the "long" profile (HYPOTHESIS_PROFILE=long) in a pytest subprocess: pass/fail and the examples
    run, from --hypothesis-show-statistics;
  * the bad-input corpus (tests/data/bad_cells.json): its size, and how many of its cases pass
    tests/test_corpus.py (run in a pytest subprocess);
  * the namespace-integrity checks: how many of the corpus run's tests assert the notebook is
    unchanged (each corpus case but the "ok-flagged" ones, which must succeed, plus the other
    corpus-file tests that compare snapshots), and how many of them passed;
  * the RSS growth over 1,000 runs of the seed cell, measured in this process as
    tests/test_magic_reuse.py does.

Options: --quick uses the "default" Hypothesis profile instead of "long". Takes about a minute
with the long profile (well under the 10 minutes allowed).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
PROPERTY_FILES = ["tests/test_properties.py", "tests/test_magic_properties.py"]
CORPUS_TESTS = "tests/test_corpus.py"
CORPUS_DATA = TESTS / "data" / "bad_cells.json"
TIMEOUT = 540  # seconds per pytest subprocess


# ================================================================ running pytest


def pytest_run(paths: list, profile: str, extra: tuple = ()) -> tuple:
    """Run pytest on ``paths`` in a subprocess; return (per-test outcomes, stdout, seconds).

    Outcomes come from a JUnit XML report: {test id: (outcome, failure text)}, the outcome being
    "passed", "failed", "error" or "skipped".
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider",
                   f"--junitxml={report}", *extra]
        env = dict(os.environ, HYPOTHESIS_PROFILE=profile)
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired as timeout:
            output = f"(timed out after {TIMEOUT} s)\n{timeout.stdout or ''}"
        seconds = time.perf_counter() - started
        outcomes = _junit_outcomes(report) if report.exists() else {}
    return outcomes, output, seconds


def _junit_outcomes(report: Path) -> dict:
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        key = f"{module}::{case.get('name')}"
        children = {child.tag: child for child in case}
        for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            if tag in children:
                child = children[tag]
                outcomes[key] = (outcome, (child.text or "") + (child.get("message") or ""))
                break
        else:
            outcomes[key] = ("passed", "")
    return outcomes


def _failed_at_snapshot(text: str) -> bool:
    """True if pytest's failure report points ('>') at a snapshot comparison."""
    return any(line.startswith(">") and "snapshot(" in line for line in text.splitlines())


STATS_HEAD = re.compile(r"^(?P<path>\S+\.py)::(?P<test>\S+?):\s*$", re.M)
STATS_COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid test cases")


def hypothesis_counts(output: str) -> dict:
    """test name -> [passing, failing, invalid] summed over phases, from --hypothesis-show-statistics."""
    counts = {}
    heads = list(STATS_HEAD.finditer(output))
    for k, head in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(output)
        total = [0, 0, 0]
        for numbers in STATS_COUNTS.findall(output[head.end():end]):
            total = [a + int(b) for a, b in zip(total, numbers)]
        counts[head.group("test")] = total
    return counts


# ================================================================ the figures


def properties(profile: str) -> list:
    """Rows for the property tests."""
    outcomes, output, seconds = pytest_run(PROPERTY_FILES, profile, ("--hypothesis-show-statistics",))
    counts = hypothesis_counts(output)
    rows = []
    if not outcomes:
        rows.append(("properties", f"pytest produced no report ({output.strip().splitlines()[-1:]})"))
        return rows
    passed = sum(1 for v, _ in outcomes.values() if v == "passed")
    examples = sum(c[0] + c[1] for c in counts.values())
    rows.append(("properties checked", f"{passed}/{len(outcomes)} passed, {examples:,} examples "
                                       f"(profile {profile}, {seconds:.0f} s)"))
    for key, (outcome, _) in sorted(outcomes.items()):
        name = key.split("::")[-1]
        passing, failing, invalid = counts.get(name, (0, 0, 0))
        rows.append((f"  {key}", f"{outcome}: {passing:,} passing, {failing:,} failing, {invalid:,} invalid examples"))
    return rows


def corpus_cases() -> list:
    """The corpus as a list of cases, or [] if it is absent or unreadable (it may be in progress)."""
    try:
        data = json.loads(CORPUS_DATA.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if isinstance(data, dict):  # tolerate {"cases": [...]}
        data = next((v for v in data.values() if isinstance(v, list)), [])
    return [case for case in data if isinstance(case, dict)]


def _functions_checking_the_namespace(path: Path) -> set:
    """Test functions in ``path`` that compare a snapshot of the notebook before and after."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return set()
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Compare) and any(
                    isinstance(side, ast.Call) and getattr(side.func, "id", "") == "snapshot"
                    for side in [inner.left, *inner.comparators]
                ):
                    found.add(node.name)
                    break
    return found


def corpus() -> list:
    """Rows for the bad-input corpus and the namespace-integrity checks."""
    cases = corpus_cases()
    if not CORPUS_DATA.exists():
        return [("bad-input corpus", f"{CORPUS_DATA.relative_to(ROOT)} not found: skipped")]
    if not (ROOT / CORPUS_TESTS).exists():
        return [("bad-input corpus", f"{len(cases)} cases; {CORPUS_TESTS} not found: not run")]
    outcomes, output, seconds = pytest_run([CORPUS_TESTS], "default")
    if not outcomes:
        last = output.strip().splitlines()[-1] if output.strip() else "no output"
        return [("bad-input corpus", f"{len(cases)} cases; the corpus tests did not run ({last})")]
    by_id = {case.get("id"): case for case in cases}
    case_results = {}
    for key, (outcome, _) in outcomes.items():
        match = re.fullmatch(r".*::test_corpus_case\[(.*)\]", key)
        if match:
            case_results[match.group(1)] = outcome
    passed_cases = sum(1 for v in case_results.values() if v == "passed")

    checking = _functions_checking_the_namespace(ROOT / CORPUS_TESTS)
    checks = passed_checks = failed_checks = 0
    for key, (outcome, text) in outcomes.items():
        function = key.split("::")[-1].split("[")[0]
        if function not in checking:
            continue
        if function == "test_corpus_case":  # the snapshot is compared for every case but ok-flagged ones
            case = by_id.get(key.split("[", 1)[-1].rstrip("]"), {})
            if case.get("category") == "ok-flagged":
                continue
        checks += 1
        passed_checks += outcome == "passed"
        failed_checks += outcome != "passed" and _failed_at_snapshot(text)
    unknown = checks - passed_checks - failed_checks  # the test failed elsewhere: not counted either way
    all_passed = sum(1 for v, _ in outcomes.values() if v == "passed")
    return [
        ("bad-input corpus", f"{len(cases)} cases, {passed_cases}/{len(case_results)} pass "
                             f"({all_passed}/{len(outcomes)} tests in {CORPUS_TESTS}, {seconds:.0f} s)"),
        ("namespace-integrity checks", f"{checks} checks: {passed_checks} pass, {failed_checks} fail"
                                       + (f", {unknown} in tests that failed on another assertion" if unknown else "")),
        ("", "(notebook names, Variables and their gradients unchanged after a failing cell)"),
    ]


def rss() -> list:
    """The RSS growth over 1,000 runs of the seed cell, measured here as the reuse test does."""
    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(ROOT))
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from test_magic_reuse import RSS_LIMIT, rss_growth

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "adiff_magic")
    ip.run_cell("import numpy as np", store_history=False)
    started = time.perf_counter()
    growth = rss_growth(ip)
    seconds = time.perf_counter() - started
    verdict = "ok" if growth < RSS_LIMIT else "OVER LIMIT"
    return [("RSS growth, 1,000 seed-cell runs", f"{growth / 2 ** 20:+.2f} MiB after 100 warm-up runs "
                                                 f"(limit {RSS_LIMIT / 2 ** 20:.0f} MiB: {verdict}; {seconds:.1f} s)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help='use the "default" Hypothesis profile')
    args = parser.parse_args()
    started = time.perf_counter()
    rows = properties("default" if args.quick else "long") + corpus() + rss()
    width = max(len(label) for label, _ in rows)
    print("adiff-magic hardening figures")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    print(f"{'total time'.ljust(width)}  {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
