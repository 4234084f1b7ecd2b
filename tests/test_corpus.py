"""The bad-input corpus (tests/data/bad_cells.json), run through a real IPython shell.

Each case is a cell a learner might write by mistake. For every case the shell must show one
UsageError paragraph naming the line, leak no traceback or internal path, leave the notebook's
names (and the gradients of its Variables) exactly as they were, and stay healthy for the next
cell. The same case is also run through ``parse`` + ``run`` to check the error's ``category`` and
``lineno`` against the corpus. "ok-flagged" cases must succeed and flag nan or inf in the notes.

A case may carry ``contains``: fragments the message must hold (e.g. a "did you mean" hint).
``category`` null marks an option error that magic_arguments itself rejects: no CellError exists.

Then positive tests the corpus cannot express: a user function that shadows an engine function,
Korean identifiers, HTML/markdown injection, a refused enormous array, and an infinite loop
stopped with KeyboardInterrupt.
"""
from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.magic_arguments import parse_argstring
from IPython.utils.capture import capture_output

from adiff_magic.magic import GradMagics, options_from
from adiff_magic.errors import CATEGORIES, CellError
from adiff_magic.parser import parse
from adiff_magic.render import to_mermaid
from adiff_magic.runner import run
from engine import Variable

CORPUS_PATH = Path(__file__).parent / "data" / "bad_cells.json"
CORPUS = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))

# What a user must never see: a traceback or the package's own files.
LEAKS = ("Traceback", "engine/", "engine\\", "adiff_magic/", "adiff_magic\\", 'File "')

# IPython's own bookkeeping names, which change with every cell.
BOOKKEEPING = re.compile(r"^(_|__|___|_i|_ii|_iii|_ih|_oh|_dh|In|Out|_exit_code|_i\d+|_\d+)$")

GOOD_CELL = "%%grad\nx = 0.5\ny = square(x)"
SIZE_SECONDS = 5.0  # an enormous input must be refused within this


# ================================================================ fixtures and helpers


def run_cell(ip, source):
    """Run a cell as a user would; return (ExecutionResult, everything printed)."""
    with capture_output() as captured:
        result = ip.run_cell(source, store_history=True)
    return result, captured


def _grad_state(value):
    """What a failing cell must not change about a Variable: its gradient object and values."""
    grad = value.grad
    data = grad.data if isinstance(grad, Variable) else grad
    return id(grad), None if data is None else np.array(data).tobytes()


def snapshot(ip):
    """The user's names -> identity of the value, and for Variables (also one level inside a
    list, tuple or dict) the identity and bytes of their gradient."""
    state = {}
    for name, value in ip.user_ns.items():
        if BOOKKEEPING.match(name):
            continue
        state[name] = id(value)
        if isinstance(value, Variable):
            state[name, ".grad"] = _grad_state(value)
        elif isinstance(value, (list, tuple, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(item, Variable):
                    state[name, key, ".grad"] = _grad_state(item)
    return state


def options_like_the_magic(line):
    """Options as %%grad builds them from its option line; UsageError where the magic raises one."""
    return options_from(parse_argstring(GradMagics.grad, line))


def run_directly(case, namespace):
    """('ok', notes) or (category, lineno, message) for the case run with parse + run."""
    try:
        options = options_like_the_magic(case["options"])
    except UsageError as error:  # rejected by the option line itself: an option error, no line
        return "option", None, str(error)
    try:
        result, _ = run(parse(case["cell"]), namespace, options)
    except CellError as error:
        return error.category, error.lineno, str(error)
    return "ok", result.notes


def case_id(case):
    return case["id"]


# ================================================================ the corpus itself


def test_corpus_is_well_formed():
    assert len(CORPUS) >= 60
    ids = [case["id"] for case in CORPUS]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    for case in CORPUS:
        assert set(case) >= {"id", "options", "setup", "cell", "category", "line"}, case["id"]
        assert case["category"] is None or case["category"] in CATEGORIES + ("ok-flagged",), case["id"]
        assert case["line"] is None or (isinstance(case["line"], int) and case["line"] >= 1), case["id"]
        if case["category"] is None:  # only option lines that magic_arguments rejects
            assert case["options"] and case["line"] is None, case["id"]
        if case["category"] == "ok-flagged":
            assert case["line"] is None, case["id"]
        if case["line"] is not None:
            assert case["line"] <= len(case["cell"].splitlines()), case["id"]
    used = {case["category"] for case in CORPUS}
    # every kind of mistake a learner can make is represented
    for category in ("empty", "syntax", "name", "input", "size", "shape", "type", "arithmetic", "recursion",
                     "runtime", "backward", "target", "option", "ok-flagged"):
        assert category in used, category


# ================================================================ every case, end to end


@pytest.mark.parametrize("case", CORPUS, ids=case_id)
def test_corpus_case(ip, case):
    if case["setup"]:
        setup, _ = run_cell(ip, case["setup"])
        assert setup.success, f"the setup failed: {setup.error_before_exec or setup.error_in_exec!r}"

    # (5) category and line through parse + run, against the notebook as the setup left it
    if case["category"] is not None:
        started = time.perf_counter()
        outcome = run_directly(case, ip.user_ns)
        if case["category"] == "ok-flagged":
            assert outcome[0] == "ok", f"expected success with a nan/inf note, got {outcome}"
            assert any("nan" in note or "inf" in note for note in outcome[1]), outcome[1]
        else:
            assert outcome[0] != "ok", f"expected a {case['category']} error, the cell succeeded: {outcome[1]}"
            assert (outcome[0], outcome[1]) == (case["category"], case["line"]), outcome[2]
            for fragment in case.get("contains", ()):
                assert fragment in outcome[2], f"{fragment!r} not in {outcome[2]!r}"
        if case["category"] == "size":
            assert time.perf_counter() - started < SIZE_SECONDS

    before = snapshot(ip)
    started = time.perf_counter()
    execution, captured = run_cell(ip, f"%%grad {case['options']}\n{case['cell']}")
    elapsed = time.perf_counter() - started
    seen = captured.stdout + captured.stderr

    # (1) no traceback and no path of ours
    for leak in LEAKS:
        assert leak not in seen, f"{leak!r} leaked into the output:\n{seen}"

    if case["category"] == "ok-flagged":
        assert execution.success, seen
        assert "nan or inf" in seen, seen
    else:
        # (2) exactly one UsageError paragraph, naming the line if the mistake has one
        assert not execution.success
        assert isinstance(execution.error_in_exec, UsageError), repr(execution.error_in_exec)
        assert seen.count("UsageError:") == 1, seen
        message = str(execution.error_in_exec)
        if case["line"] is not None:
            assert f"line {case['line']}:" in seen, seen
            assert message.startswith(f"line {case['line']}:"), message
        else:
            assert not message.startswith("line "), message
        for fragment in case.get("contains", ()):
            assert fragment in message, f"{fragment!r} not in {message!r}"
        assert captured.outputs == []
        # (3) the notebook is exactly as it was
        assert snapshot(ip) == before
    if case["category"] == "size":
        assert elapsed < SIZE_SECONDS, f"refusing the array took {elapsed:.1f} s"

    # (4) the shell is healthy: the next good cell works (in a fresh namespace, since a setup
    # may have shadowed square on purpose)
    ip.reset()
    good, captured = run_cell(ip, GOOD_CELL)
    assert good.success, captured.stdout + captured.stderr
    assert float(ip.user_ns["x"].grad) == 1.0


# ================================================================ positive cases


def test_a_notebook_function_shadowing_square_is_used(ip):
    """`def square` in the notebook is the user's choice: %%grad uses it, it is not an error."""
    run_cell(ip, "def square(v):\n    return v * 10\n")
    execution, captured = run_cell(ip, "%%grad\nx = 0.5\ny = square(x)")
    assert execution.success, captured.stdout + captured.stderr
    assert float(ip.user_ns["y"].data) == 5.0
    assert float(ip.user_ns["x"].grad) == 10.0
    assert execution.result.steps[0].function == "Mul"


def test_korean_identifiers_work(ip):
    execution, captured = run_cell(ip, "%%grad\n엑스 = 0.5\n와이 = square(엑스)")
    assert execution.success, captured.stdout + captured.stderr
    assert float(ip.user_ns["엑스"].grad) == 1.0  # d(x²)/dx = 2·0.5
    assert float(ip.user_ns["와이"].data) == 0.25
    assert execution.result.target == "와이"
    assert "엑스" in captured.stdout and "와이" in captured.stdout
    assert "엑스" in execution.result._repr_html_()


def test_korean_identifiers_from_the_notebook_and_in_options(ip):
    run_cell(ip, "각도 = 0.0")
    execution, captured = run_cell(ip, "%%grad --wrt 각도 --target 결과\n결과 = sin(각도)\n무시 = square(결과)")
    assert execution.success, captured.stdout + captured.stderr
    assert float(execution.result.grads["각도"]) == 1.0  # cos 0


IMG = "<img src=x onerror=alert(1)>"
EVIL_FUNCTION = f'''\
from engine import Function
class Evil(Function):
    rule = "{IMG} **bold** [link](javascript:alert(1))"
    def forward(self, x):
        return 3 * x
    def backward(self, gy):
        return 3 * gy
'''


def test_html_escapes_script_in_values_and_unicode_names(ip):
    cell = ('π_값 = 0.5\n'
            'note = "<script>alert(1)</script>"\n'
            'y = square(π_값) * len("<script>alert(1)</script>")')
    execution, captured = run_cell(ip, "%%grad -o res\n" + cell)
    assert execution.success, captured.stdout + captured.stderr
    result = ip.user_ns["res"]
    assert float(result.grads["π_값"]) == 25.0  # d(25·x²)/dx at 0.5
    page = result._repr_html_()
    assert "π_값" in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    formatted, _ = ip.display_formatter.format(result)
    assert "<script" not in formatted.get("text/html", "")


def test_html_svg_and_mermaid_escape_a_user_rule_with_an_img_tag(ip):
    run_cell(ip, EVIL_FUNCTION)
    cell = f'x = 0.5\ny = square(x) + len("{IMG}") * Evil()(x)'
    execution, captured = run_cell(ip, "%%grad --graph -o res\n" + cell)
    assert execution.success, captured.stdout + captured.stderr
    result = ip.user_ns["res"]
    assert float(result.grads["x"]) == 1.0 + 28 * 3  # 2x + len·3
    page = result._repr_html_()
    assert "Evil" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<a ' not in page and 'href' not in page  # markdown is not turned into links
    bundles = [output.data for output in captured.outputs if "image/svg+xml" in output.data]
    assert len(bundles) == 1
    svg = bundles[0]["image/svg+xml"]
    assert "Evil" in svg
    assert "len(" in svg  # the unnamed node's label is the source text that made it
    assert "<img" not in svg and "&lt;img" in svg  # shown, its angle brackets escaped
    mermaid = to_mermaid(result)  # kept for a page that draws mermaid
    assert "Evil" in mermaid and "<img" not in mermaid and "onerror=alert(1)" in mermaid


# ================================================================ an enormous array


def test_an_enormous_array_is_refused_quickly_and_the_shell_is_fine(ip):
    run_cell(ip, "%%grad --quiet\nx = 0.5\ny = square(x)")
    before = snapshot(ip)
    started = time.perf_counter()
    execution, captured = run_cell(ip, "%%grad\nx = np.zeros(10**8)\ny = sum(x)")
    elapsed = time.perf_counter() - started
    assert elapsed < SIZE_SECONDS, f"took {elapsed:.1f} s"
    assert not execution.success
    assert "line 1:" in captured.stderr + captured.stdout
    assert "100,000,000 elements" in str(execution.error_in_exec)
    assert snapshot(ip) == before
    good, _ = run_cell(ip, "%%grad\nx = np.arange(3.0)\ny = sum(square(x))")
    assert good.success
    assert list(ip.user_ns["x"].grad) == [0.0, 2.0, 4.0]


# ================================================================ an infinite loop


def _interrupt_main_after(seconds):
    """Raise KeyboardInterrupt in the main thread after ``seconds``, as Ctrl-C / the Jupyter
    'interrupt kernel' button do. Returns a function that cancels the timer."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)

        def cancel():
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

        return cancel
    import _thread

    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer.cancel


def _interrupt_once_the_loop_runs(ip, seconds=0.3):
    """Put `loop_started()` in the notebook: called by the cell just before its endless loop, it
    starts the interrupt timer, so that the interrupt lands in the loop and not in IPython's own
    code on a slow machine. Returns the function that cancels the timer."""
    cancels = []
    ip.user_ns["loop_started"] = lambda: cancels.append(_interrupt_main_after(seconds))

    def cancel():
        for each in cancels:
            each()

    return cancel


LOOP_CELL = "%%grad\nx = 0.5\nloop_started()\nwhile True:\n    y = sin(x)"


def test_an_infinite_loop_can_be_interrupted_and_binds_nothing(ip):
    """Nothing guards against `while True:` in a cell; the user interrupts the kernel.

    What happens: the runner turns the KeyboardInterrupt into one UsageError naming the cell line
    that was running ("line 3: interrupted (KeyboardInterrupt)"). The cell ran in a scratch scope
    and names are copied to the notebook only after a success, so no partial names (x, y) are
    bound and the notebook's existing names and gradients are untouched. The next cell works.
    """
    run_cell(ip, "%%grad --quiet\nx = 0.25\nz = square(x)")
    cancel = _interrupt_once_the_loop_runs(ip)
    before = snapshot(ip)
    x_before = ip.user_ns["x"]
    try:
        started = time.perf_counter()
        execution, captured = run_cell(ip, LOOP_CELL)
        elapsed = time.perf_counter() - started
    finally:
        cancel()
    assert elapsed < 10
    assert re.match(r"line [34]: interrupted \(KeyboardInterrupt\)", str(execution.error_in_exec))  # in the loop
    assert "KeyboardInterrupt" in captured.stdout + captured.stderr
    assert snapshot(ip) == before
    assert ip.user_ns["x"] is x_before and float(x_before.grad) == 0.5
    assert "y" not in ip.user_ns
    good, captured = run_cell(ip, GOOD_CELL)
    assert good.success, captured.stdout + captured.stderr
    assert float(ip.user_ns["x"].grad) == 1.0


def test_an_interrupted_cell_does_not_show_our_internals(ip):
    """Interrupting a %%grad cell is the learner's only way out of a loop: the report should be
    about their cell, not a traceback through adiff_magic/ and engine/ files."""
    cancel = _interrupt_once_the_loop_runs(ip)
    try:
        execution, captured = run_cell(ip, LOOP_CELL)
    finally:
        cancel()
    seen = captured.stdout + captured.stderr
    assert "KeyboardInterrupt" in seen
    for leak in ("adiff_magic/", "engine/"):
        assert leak not in seen, f"{leak!r} leaked into the interrupt report:\n{seen}"


# ================================================================ valid cells that must not fail or mislead


def test_a_long_sum_is_not_an_internal_error(ip):
    """Python compiles a 500-term sum; %%grad must run it too (not 'internal error ... RecursionError')."""
    execution, captured = run_cell(ip, "%%grad --quiet\nx = 0.5\ny = " + " + ".join(["x"] * 500))
    seen = captured.stdout + captured.stderr
    assert "internal error" not in seen, seen
    assert execution.success, seen
    assert float(ip.user_ns["x"].grad) == 500.0


def test_backward_called_in_the_cell_does_not_double_the_gradient(ip):
    """The seed notebook ends with y.backward(); a learner copies it into the cell. The table's
    column is dy/dx, so it must show 2·0.5 = 1, or a note must say the cell's own backward
    accumulated into it."""
    execution, captured = run_cell(ip, "%%grad\nx = 0.5\ny = square(x)\ny.backward()")
    assert execution.success, captured.stdout + captured.stderr
    result = execution.result
    flagged = any("backward" in note for note in result.notes)
    assert float(result.grads["x"]) == 1.0 or flagged, (float(result.grads["x"]), result.notes)


def test_a_high_order_does_not_freeze_the_kernel(ip):
    """--order N on a composition grows the graph faster than exponentially (order 12 of
    exp(sin(x)) takes seconds, 16 would take hours). It must be refused or bounded, not hang:
    the cell gets 5 s before it is interrupted as a user would."""
    cancel = _interrupt_main_after(5.0)
    try:
        execution, captured = run_cell(ip, "%%grad --order 16\nx = 0.5\ny = exp(sin(x))")
    finally:
        cancel()
    seen = captured.stdout + captured.stderr
    assert not isinstance(execution.error_in_exec, KeyboardInterrupt), "--order 16 froze the kernel"
    if not execution.success:  # refused: one option error, nothing bound
        assert isinstance(execution.error_in_exec, UsageError), seen
        assert "--order" in str(execution.error_in_exec)
        assert "y" not in ip.user_ns
    good, _ = run_cell(ip, GOOD_CELL)
    assert good.success
