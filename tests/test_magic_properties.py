"""Property tests of the %%grad magic: random cells, run through a real IPython shell.

A cell is generated as a small program in every statement form (plain, annotated, walrus, unpacking,
`+=` and an `if` on a value): input lines (numbers and arrays of shape (), (3,) and
(2, 3), assigned in the cell or read from the notebook), then lines ``v1 = <expression>`` whose
expressions nest engine functions and operators over earlier names (so intermediates are shared),
then ``y = ...`` over every value no later line used. The same program is

* written as cell source text and run through ``%%grad`` in an InteractiveShell,
* interpreted directly with engine Variables, then ``backward`` (the engine's own gradients),
* interpreted with plain numpy and differentiated by central differences (an independent oracle).

Every engine function and operator the magic is meant for appears: + - * / ** unary -, square exp
log sin cos tan tanh sqrt sigmoid relu abs sum mean. Domains are safe by construction (log and
sqrt of 1 + square(e), tan of sin(e), divisions by 1 + square(e) or 2 + sin(e), powers of
1 + square(e)); the central-difference comparison is skipped (and counted with ``event``) only
when values grow past LIMIT (tests/reference.py) or an argument of relu/abs lies within KINK of 0,
where central differences are not a fair oracle. The other checks run on every example.

Profiles (tests/conftest.py): "default" runs 60 examples, HYPOTHESIS_PROFILE=long runs 2000.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from IPython.utils.capture import capture_output
from reference import EPS, NP, assert_grads_close, central_differences, safe

import engine as E
from engine import Variable

SHAPES = [(), (3,), (2, 3)]
KINK = 1e-3  # relu/abs arguments closer than this to 0 make central differences unreliable
RESULT = "_adiff_property_result"  # the -o name the cell stores its GradResult under
REL = 1e-12  # magic vs engine: exact, or within this relative error


# ================================================================ operations
#
# Each operation: its source template (children as {a0}/{p0}, {a1}/{p1}: see render), its interpretation over a namespace m
# (E or NP), the rule for its output shape, and which input shapes it accepts. Kinked operations
# report their argument to the interpreter so that examples near a kink can be recognised.


@dataclass(frozen=True)
class Op:
    template: str
    apply: object  # (m, *children) -> value
    shape: object = None  # (*child shapes) -> shape; None: broadcast of the children
    accepts: object = None  # (*child shapes) -> bool; None: any
    kink: bool = False  # the first child is the argument of relu or abs


def _same(s):
    return s


UNARY = {
    "neg": Op("-{p0}", lambda m, a: -a),
    "square": Op("square({a0})", lambda m, a: m.square(a)),
    "exp": Op("exp({a0})", lambda m, a: m.exp(a)),
    "sin": Op("sin({a0})", lambda m, a: m.sin(a)),
    "cos": Op("cos({a0})", lambda m, a: m.cos(a)),
    "tanh": Op("tanh({a0})", lambda m, a: m.tanh(a)),
    "sigmoid": Op("sigmoid({a0})", lambda m, a: m.sigmoid(a)),
    "relu": Op("relu({a0})", lambda m, a: m.relu(a), kink=True),
    "abs": Op("abs({a0})", lambda m, a: m.abs(a), kink=True),
    "log": Op("log(1 + square({a0}))", lambda m, a: m.log(1 + m.square(a))),
    "sqrt": Op("sqrt(1 + square({a0}))", lambda m, a: m.sqrt(1 + m.square(a))),
    "tan": Op("tan(sin({a0}))", lambda m, a: m.tan(m.sin(a))),
    "pow2": Op("{p0} ** 2", lambda m, a: a ** 2),
    "pow3": Op("{p0} ** 3", lambda m, a: a ** 3),
    "pow1.5": Op("(1 + square({a0})) ** 1.5", lambda m, a: (1 + m.square(a)) ** 1.5),
    "pow-0.5": Op("(1 + square({a0})) ** -0.5", lambda m, a: (1 + m.square(a)) ** -0.5),
    "rpow": Op("2 ** tanh({a0})", lambda m, a: 2 ** m.tanh(a)),
    "recip": Op("1.0 / (1 + square({a0}))", lambda m, a: 1.0 / (1 + m.square(a))),
    "affine": Op("0.5 * {p0} - 1.5", lambda m, a: 0.5 * a - 1.5),
    "rsub": Op("2.0 - {p0}", lambda m, a: 2.0 - a),
    "radd": Op("1.0 + {p0}", lambda m, a: 1.0 + a),
    "sum": Op("sum({a0})", lambda m, a: m.sum(a), lambda s: ()),
    "mean": Op("mean({a0})", lambda m, a: m.mean(a), lambda s: ()),
    "sum0": Op("sum({a0}, axis=0)", lambda m, a: m.sum(a, axis=0), lambda s: s[1:], lambda s: len(s) == 2),
    "mean_keep": Op("mean({a0}, axis=-1, keepdims=True)", lambda m, a: m.mean(a, axis=-1, keepdims=True),
                    lambda s: s[:-1] + (1,), lambda s: len(s) >= 1),
}

BINARY = {
    "add": Op("{p0} + {p1}", lambda m, a, b: a + b),
    "sub": Op("{p0} - {p1}", lambda m, a, b: a - b),
    "mul": Op("{p0} * {p1}", lambda m, a, b: a * b),
    "div": Op("{p0} / (1 + square({a1}))", lambda m, a, b: a / (1 + m.square(b))),
    "rdiv": Op("(1 + square({a1})) / (2 + sin({a0}))", lambda m, a, b: (1 + m.square(b)) / (2 + m.sin(a))),
    "power": Op("(1 + square({a0})) ** tanh({a1})", lambda m, a, b: (1 + m.square(a)) ** m.tanh(b)),
}

# Shapes that can occur: (), (1,), (3,), (2, 1), (2, 3). Any two of them broadcast together.


# ================================================================ programs


@dataclass(frozen=True)
class Leaf:
    name: str
    value: np.ndarray
    in_cell: bool  # assigned by the cell (else read from the notebook)
    notebook_kind: str = "array"  # for notebook leaves: "number", "array" or "variable"


# How a line binds its name: each form means `name = tree` (see statement).
FORMS = ["plain", "plain", "plain", "annotated", "walrus", "unpack", "if"]


@dataclass(frozen=True)
class Program:
    leaves: tuple  # Leaf
    lines: tuple  # (name, tree); tree: ("name", str) | ("op", key, (children...))
    final: str  # "sum", "mean" or "none": how y is made from the sinks
    forms: tuple = ()  # one of FORMS, or "aug" (tree is name + rest, written `name += rest`), per line

    def names_read(self):
        found = []

        def walk(tree):
            if tree[0] == "name":
                if tree[1] not in found:
                    found.append(tree[1])
            else:
                for child in tree[2]:
                    walk(child)

        for _, tree in self.lines:
            walk(tree)
        return found

    def inputs(self):
        """The names %%grad treats as inputs: the cell's leaves and the notebook leaves it reads."""
        read = set(self.names_read())
        return [leaf.name for leaf in self.leaves if leaf.in_cell or leaf.name in read]


def _op_ref(key):
    return UNARY[key] if key in UNARY else BINARY[key]


def render(tree):
    """Source text of a tree, and whether it needs no parentheses as an operand."""
    if tree[0] == "name":
        return tree[1], True
    op = _op_ref(tree[1])
    parts = {}
    for k, child in enumerate(tree[2]):
        text, atomic = render(child)
        parts[f"a{k}"] = text  # a whole call argument: no parentheses needed
        parts[f"p{k}"] = text if atomic else f"({text})"  # an operand: parenthesised unless atomic
    text = op.template.format(**parts)
    atomic = re.fullmatch(r"[a-z]+\(.*\)", text) is not None and _balanced_call(text)
    return text, atomic


def _balanced_call(text):
    """True if text is one call f(...) whose first '(' closes at the very end."""
    depth = 0
    start = text.index("(")
    for i, ch in enumerate(text[start:], start):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def _number(v):
    return repr(float(v))


def literal(value):
    """Source text for a leaf value: a float, or np.array([...]) with exact float reprs."""
    if value.ndim == 0:
        return _number(value)

    def nested(a):
        if a.ndim == 1:
            return "[" + ", ".join(_number(v) for v in a) + "]"
        return "[" + ", ".join(nested(row) for row in a) + "]"

    return f"np.array({nested(value)})"


def cell_source(program):
    lines = [f"{leaf.name} = {literal(leaf.value)}" for leaf in program.leaves if leaf.in_cell]
    forms = program.forms or ("plain",) * len(program.lines)
    lines += [statement(name, tree, form, program) for (name, tree), form in zip(program.lines, forms)]
    return "\n".join(lines) + "\n"


def statement(name, tree, form, program):
    """Source text binding ``name`` to the value of ``tree``, in one of the statement forms."""
    text = render(tree)[0]
    if form == "aug":
        return f"{name} += {render(tree[2][1])[0]}"
    if form == "annotated":
        return f"{name}: object = {text}"
    if form == "walrus":
        return f"({name} := {text})"
    if form == "unpack":
        return f"[{name}] = [{text}]"
    if form == "if":  # a test on a value that always holds: the branch taken is the one written
        tested = next((leaf.name for leaf in program.leaves if leaf.in_cell), None)
        condition = f"np.all({tested} == {tested})" if tested else "True"
        return f"if {condition}:\n    {name} = {text}\nelse:\n    {name} = None"
    return f"{name} = {text}"


def interpret(program, m, leaf_values, bindings=None, every=None):
    """Evaluate the program in namespace m; return (values by name, kink arguments).

    ``bindings``, if given, receives (name, value) for every line, rebound names included;
    ``every``, if given, receives the value of every operation, nested ones included."""
    values = dict(zip([leaf.name for leaf in program.leaves], leaf_values))
    kinks = []

    def evaluate(tree):
        if tree[0] == "name":
            return values[tree[1]]
        op = _op_ref(tree[1])
        args = [evaluate(child) for child in tree[2]]
        if op.kink:
            kinks.append(args[0])
        value = op.apply(m, *args)
        if every is not None:
            every.append(value)
        return value

    for name, tree in program.lines:
        values[name] = evaluate(tree)
        if bindings is not None:
            bindings.append((name, values[name]))
    return values, kinks


def shown_names(program):
    """The row name %%grad gives each line's binding: 'v1' for the last binding of v1, 'v1#k' before."""
    totals = {}
    for name, _ in program.lines:
        totals[name] = totals.get(name, 0) + 1
    seen, shown = {}, []
    for name, _ in program.lines:
        seen[name] = seen.get(name, 0) + 1
        shown.append(name if seen[name] == totals[name] else f"{name}#{seen[name]}")
    return shown


elements = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


def _shape_of(tree, shapes):
    if tree[0] == "name":
        return shapes[tree[1]]
    op = _op_ref(tree[1])
    child_shapes = [_shape_of(c, shapes) for c in tree[2]]
    if op.shape is not None:
        return op.shape(*child_shapes)
    return np.broadcast_shapes(*child_shapes)


@st.composite
def trees(draw, names, shapes, depth, top=False):
    """An expression over ``names`` at most ``depth`` operations deep; at the top of a line it is
    an operation, or now and then a bare name (an alias such as ``v2 = v1``)."""
    stop = draw(st.integers(0, 19)) == 0 if top else depth == 0 or draw(st.integers(0, 3)) == 0
    if stop:
        return ("name", draw(st.sampled_from(names)))
    if draw(st.booleans()):
        child = draw(trees(names, shapes, depth - 1))
        s = _shape_of(child, shapes)
        keys = [k for k, op in UNARY.items() if op.accepts is None or op.accepts(s)]
        return ("op", draw(st.sampled_from(keys)), (child,))
    a = draw(trees(names, shapes, depth - 1))
    b = draw(trees(names, shapes, depth - 1))
    return ("op", draw(st.sampled_from(sorted(BINARY))), (a, b))


@st.composite
def programs(draw):
    n_leaves = draw(st.integers(1, 3))
    leaves = []
    for k in range(n_leaves):
        shape = draw(st.sampled_from(SHAPES))
        value = draw(hnp.arrays(np.float64, shape, elements=elements))
        in_cell = draw(st.integers(0, 3)) > 0  # mostly assigned in the cell, sometimes from the notebook
        kind = draw(st.sampled_from(["number" if shape == () else "array", "variable"]))
        leaves.append(Leaf(f"x{k}", value, in_cell, kind))
    shapes = {leaf.name: leaf.value.shape for leaf in leaves}
    names = [leaf.name for leaf in leaves]
    lines = []
    forms = []
    unread = {}  # name -> whether its current binding has not been read yet
    intermediates = []

    def walk(tree):
        if tree[0] == "name":
            unread[tree[1]] = False
        else:
            for child in tree[2]:
                walk(child)

    for k in range(1, draw(st.integers(1, 6)) + 1):
        tree = draw(trees(names, shapes, draw(st.integers(1, 3)), top=True))
        form = draw(st.sampled_from(FORMS))
        if intermediates and draw(st.integers(0, 5)) == 0:
            name = draw(st.sampled_from(intermediates))  # rebinding: the magic shows 'v1#1' and 'v1'
            if draw(st.booleans()) and np.broadcast_shapes(shapes[name], _shape_of(tree, shapes)) == shapes[name]:
                tree, form = ("op", "add", (("name", name), tree)), "aug"  # name += tree
        else:
            name = f"v{k}"
            intermediates.append(name)
            names.append(name)
        walk(tree)
        lines.append((name, tree))
        forms.append(form)
        shapes[name] = _shape_of(tree, shapes)
        unread[name] = True
    sinks = [name for name in intermediates if unread[name]]  # the last line is always one
    final = draw(st.sampled_from(["sum", "mean", "none"]))
    if final == "none" and len(sinks) == 1:
        y_tree = ("op", "mul", (("name", sinks[0]), ("name", sinks[0])))  # a possibly non-scalar target
    else:
        final = "sum" if final == "none" else final
        terms = [("op", final, (("name", s),)) for s in sinks]
        y_tree = terms[0]
        for term in terms[1:]:
            y_tree = ("op", "add", (y_tree, term))
    lines.append(("y", y_tree))
    forms.append(draw(st.sampled_from(FORMS)))
    return Program(tuple(leaves), tuple(lines), final, tuple(forms))


# ================================================================ the shell


@pytest.fixture(scope="module")
def quiet_shell(shell):
    """The shell without its Out cache, which would keep every GradResult (and its graph) alive for
    the whole run; the shell is shared with other test modules, so the cache is restored afterwards."""
    saved = shell.displayhook.cache_size, shell.displayhook.do_full_cache
    shell.displayhook.cache_size, shell.displayhook.do_full_cache = 0, 0
    yield shell
    shell.displayhook.cache_size, shell.displayhook.do_full_cache = saved


def notebook_value(leaf):
    if leaf.notebook_kind == "variable":
        return Variable(leaf.value.copy())
    if leaf.notebook_kind == "number":
        return float(leaf.value)
    return leaf.value.copy()


def run_magic(ip, source):
    """Run ``%%grad -o RESULT`` + source as a notebook cell; return (GradResult, formatted bundle)."""
    with capture_output() as captured:
        outcome = ip.run_cell(f"%%grad -o {RESULT}\n{source}", store_history=False)
    assert outcome.success, f"the cell failed:\n{source}\n{captured.stdout}\n{captured.stderr}"
    result = ip.user_ns[RESULT]
    assert outcome.result is result
    bundle, _ = ip.display_formatter.format(result)
    return result, bundle


def assert_same(actual, expected, what):
    """Magic vs engine: the same numbers, exactly or within REL of the array's magnitude."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if np.array_equal(actual, expected, equal_nan=True):
        return
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(actual), finite), f"{what}: {actual!r} vs {expected!r}"
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    assert np.all(np.abs(actual[finite] - expected[finite]) <= REL * scale), f"{what}: {actual!r} vs {expected!r}"
    event("magic vs engine: equal within 1e-12, not bit for bit")


def engine_grad(v):
    if v.grad is None:
        return None
    return v.grad.data if isinstance(v.grad, Variable) else v.grad


# ================================================================ the property


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(program=programs())
def test_random_cells_through_the_magic(quiet_shell, program):
    ip = quiet_shell
    source = cell_source(program)
    leaf_values = [leaf.value for leaf in program.leaves]
    notebook = {leaf.name: notebook_value(leaf) for leaf in program.leaves if not leaf.in_cell}
    assigned = list(dict.fromkeys([leaf.name for leaf in program.leaves if leaf.in_cell]
                                  + [name for name, _ in program.lines]))
    inputs = program.inputs()
    ip.user_ns.update(notebook)
    try:
        ip.run_cell("import numpy as np", store_history=False)
        result, bundle = run_magic(ip, source)

        # ---- (1) the engine's own gradients for the same expressions, built directly
        xs = [Variable(value.copy()) for value in leaf_values]
        bindings = []
        with np.errstate(all="ignore"):
            values, _ = interpret(program, E, xs, bindings)
            y = values["y"]
            y.backward(retain_grad=True)
        assert result.target == "y"
        checked = [(name, values[name]) for name in inputs]
        checked += [(shown, v) for shown, (_, v) in zip(shown_names(program), bindings) if "#" not in shown]
        # the table has a row per input and per name's last binding ('v1#1' is named in the trace only)
        assert sorted(row.name for row in result.rows) == sorted(name for name, _ in checked)
        for name, v in checked:
            assert_same(result.values[name], v.data, f"value of {name} in\n{source}")
            expected = engine_grad(v)
            if expected is None:  # y does not depend on it (an input no line reads)
                assert name not in result.grads, f"{name} has a gradient the engine does not give\n{source}"
            else:
                assert name in result.grads, f"no gradient for {name}\n{source}"
                assert_same(result.grads[name], expected, f"d y/d {name} in\n{source}")
        assert sorted(row.name for row in result.rows if row.is_input) == sorted(inputs)

        # ---- (2) central differences of the numpy interpretation
        every = []  # nested values too: sin(exp(v)) is moderate while exp(v) may not be
        with np.errstate(all="ignore"):
            np_values, kinks = interpret(program, NP, [v.copy() for v in leaf_values], every=every)
        scale = safe(list(leaf_values) + every + [np.sum(np_values["y"])])
        near_kink = any(np.size(k) and float(np.min(np.abs(k))) < KINK for k in kinks)
        if scale is None:
            event("central differences skipped: a value past LIMIT or not finite")
        elif near_kink:
            event("central differences skipped: relu/abs argument near 0")
        else:
            event("central differences checked")
            input_leaves = [leaf for leaf in program.leaves if leaf.name in inputs]

            def f(*arrays):
                changed = [leaf.value for leaf in program.leaves]
                for leaf, array in zip(input_leaves, arrays):
                    changed[[lf.name for lf in program.leaves].index(leaf.name)] = array
                with np.errstate(all="ignore"):
                    return float(np.sum(interpret(program, NP, changed)[0]["y"]))

            expected = central_differences(f, *[leaf.value for leaf in input_leaves], eps=EPS)
            actual = [result.grads.get(leaf.name, np.zeros_like(leaf.value)) for leaf in input_leaves]
            assert_grads_close(actual, expected, scale, f"cell\n{source}")

        # ---- (3) the notebook's names afterwards
        for name in assigned:
            bound = ip.user_ns[name]
            assert isinstance(bound, Variable), f"{name} is a {type(bound).__name__} after the cell"
            if name in result.grads:
                assert bound.grad is not None, f"{name}.grad is None but the result has a gradient"
                np.testing.assert_array_equal(engine_grad(bound), result.grads[name], err_msg=name)
            else:
                assert bound.grad is None, f"{name}.grad is set but the result has none"
            np.testing.assert_array_equal(bound.data, result.values[name], err_msg=name)
        for name, before in notebook.items():  # read, never rebound or touched
            after = ip.user_ns[name]
            assert after is before, f"the notebook's {name} was rebound"
            if isinstance(before, Variable):
                assert before.grad is None, f"the notebook Variable {name} got a gradient"
                np.testing.assert_array_equal(before.data, next(lf.value for lf in program.leaves if lf.name == name))

        # ---- (4) both renderings name every input in its own table row
        text, html = bundle["text/plain"], bundle["text/html"]
        for name in inputs:
            assert re.search(rf"^{name}\s", text, re.M), f"no row for {name} in the text:\n{text}"
            assert f"<th><code>{name}</code></th>" in html, f"no row for {name} in the HTML"
        event(f"{len(inputs)} input(s)")
        for form in sorted(set(program.forms)):
            event(f"statement form: {form}")
        event(f"{len(program.lines)} computed line(s)")
        if len(set(shown_names(program))) != len(set(name for name, _ in program.lines)):
            event("a name is rebound in the cell")
    finally:
        for name in assigned + list(notebook) + [RESULT]:
            ip.user_ns.pop(name, None)


# ---------------------------------------------------------------- every view bounded (issue 15)

VIEW_BOUND = 100_000  # bytes: text, HTML, the picture's SVG and the --step view's state, each
PNG_BOUND = 1_000_000  # bytes: the picture's PNG fallback

FAMILIES = {  # cells that grow with n in every way a cell can: passes, inputs, depth, paths, elements
    "an input per pass": lambda n: f"w = 1.0\nfor i in range({n}):\n    lr = 0.01\n    w = w - lr * w\nloss = w\n",
    "n inputs on one line": lambda n: "".join(f"x{i} = {0.01 * (i + 1)}\n" for i in range(n))
    + "y = " + " + ".join(f"sin(x{i}) * x{(i + 1) % n}" for i in range(n)) + "\n",
    "a chain n deep": lambda n: f"x = 0.5\ny = x\nfor k in range({n}):\n    y = sin(y)\n",
    "2^n paths": lambda n: f"x = 1.0\ny = x\nfor k in range({n}):\n    y = y + y + x\n",
    "n elements": lambda n: f"x = np.linspace(0, 1, {n})\ny = sum(sin(x) * x)\n",
    "a def called n times": lambda n: "def neuron(v, w):\n    return tanh(v * w + 0.1)\n"
    + f"h = 0.5\nfor k in range({n}):\n    w = 0.9\n    h = neuron(h, w)\n",
}


def view_sizes(ip, cell: str) -> dict:
    """Bytes of each view of the cell under --graph --step: text, HTML, SVG, PNG and the widget's state."""
    import json

    from adiff_magic.render import graph_bundle

    with capture_output():
        view = ip.run_cell_magic("grad", f"--graph --step -o {RESULT}", cell)
    result = ip.user_ns[RESULT]
    data, _ = ip.display_formatter.format(result)
    bundle = graph_bundle(result)
    state = {key: value for key, value in view.get_state().items() if not key.startswith("_")}
    return {"text": len(data["text/plain"].encode()), "html": len(data["text/html"].encode()),
            "svg": len(bundle["image/svg+xml"].encode()), "png": len(bundle.get("image/png", b"")),
            "state": len(json.dumps(state, default=str).encode())}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_view_is_bounded_whatever_the_cell_does(ip, family):
    ip.run_cell("import numpy as np")
    small, large = (view_sizes(ip, FAMILIES[family](n)) for n in (40, 800))
    for view, size in large.items():
        assert size <= (PNG_BOUND if view == "png" else VIEW_BOUND), (family, view, size)
        # twenty times the cell, and no view grows by more than a few labels' worth
        assert size <= 1.25 * small[view] + 2_000, (family, view, small[view], size)


def mode_sizes(ip, cell: str) -> dict:
    """Bytes of the text and HTML of --mode both --hessian, and of the state of --step --mode forward."""
    import json

    with capture_output():
        result = ip.run_cell_magic("grad", "--mode both --hessian", cell)
        view = ip.run_cell_magic("grad", "--step --mode forward", cell)
    data, _ = ip.display_formatter.format(result)
    state = {key: value for key, value in view.get_state().items() if not key.startswith("_")}
    return {"text": len(data["text/plain"].encode()), "html": len(data["text/html"].encode()),
            "state": len(json.dumps(state, default=str).encode())}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_forward_views_are_bounded_whatever_the_cell_does(ip, family):
    ip.run_cell("import numpy as np")
    small, large = (mode_sizes(ip, FAMILIES[family](n)) for n in (40, 800))
    for view, size in large.items():
        assert size <= VIEW_BOUND, (family, view, size)
        assert size <= 1.25 * small[view] + 2_000, (family, view, small[view], size)
