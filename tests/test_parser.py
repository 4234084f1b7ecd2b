"""Tests for adiff_magic.parser: names, labels, instrumentation and located errors."""
import pytest

from adiff_magic.errors import CellError
from adiff_magic.parser import check_names, parse

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"


def test_assignments_in_source_order_with_their_expressions():
    program = parse(SEED)
    assert [(a.name, a.lineno, a.text) for a in program.assignments] == [
        ("x", 1, "0.5"), ("a", 2, "square(x)"), ("b", 3, "exp(a)"), ("y", 4, "square(b)")]
    assert program.last_assigned == "y"
    assert program.assigned == ("x", "a", "b", "y")


def test_nested_calls_and_operators_are_labelled_by_source_text():
    program = parse("y = square(exp(square(x))) + 2*x\n")
    texts = [e.text for e in program.expressions]
    assert texts == ["square(x)", "exp(square(x))", "square(exp(square(x)))", "2*x",
                     "square(exp(square(x))) + 2*x"]
    assert {e.lineno for e in program.expressions} == {1}


def test_free_names_are_the_reads_the_cell_never_binds():
    program = parse("for k in range(3):\n    y = x * k\nz = y\n")
    assert [(u.name, u.lineno, u.called) for u in program.free_names] == [("range", 1, True), ("x", 2, False)]
    assert program.assigned == ("k", "y", "z")


def test_function_bodies_keep_their_own_names():
    program = parse("def f(t):\n    return t * t\ny = f(x)\n")
    assert [u.name for u in program.free_names] == ["x"]
    assert "f" in program.assigned


def test_augmented_assignment_counts_as_an_assignment():
    assert parse("y = x\ny += x\n").assignments[-1].text == "y += x"


@pytest.mark.parametrize("source, lineno", [("x = 1\ny = (x +\n", 2), ("x = = 1\n", 1), ("x = 1\n  y = 2\n", 2)])
def test_syntax_errors_name_the_line(source, lineno):
    with pytest.raises(CellError) as error:
        parse(source)
    assert error.value.lineno == lineno
    assert str(error.value).startswith(f"line {lineno}: syntax error")


def test_empty_cell_is_an_error():
    with pytest.raises(CellError, match="empty"):
        parse(" \n\n")


def test_unknown_function_suggests_the_close_name():
    with pytest.raises(CellError) as error:
        check_names(parse("x = 1\nb = sqaure(x)\n"), {"square", "exp"})
    assert str(error.value) == "line 2: unknown function 'sqaure' (did you mean 'square'?)\n    b = sqaure(x)"


def test_undefined_name_without_a_close_match():
    with pytest.raises(CellError, match=r"^line 1: undefined name 'qqq'\n    y = qqq \+ 1$"):
        check_names(parse("y = qqq + 1\n"), {"square"})


def test_known_and_builtin_names_pass():
    check_names(parse("y = square(x) + len([1])\n"), {"square", "x"})


def test_line_lookup_is_safe_outside_the_cell():
    program = parse(SEED)
    assert program.line(2) == "a = square(x)" and program.line(None) == "" and program.line(99) == ""


# ---------------------------------------------------------------- every way of binding a name


@pytest.mark.parametrize("source, expected", [
    ("a, b = 0.5, 2.0\n", [("a", 1, "0.5"), ("b", 1, "2.0")]),
    ("a, b = pair\n", [("a", 1, "pair (unpacked)"), ("b", 1, "pair (unpacked)")]),
    ("x: float = 0.5\n", [("x", 1, "0.5")]),
    ("y = (x := 0.5) * 3\n", [("x", 1, "0.5"), ("y", 1, "(x := 0.5) * 3")]),
    ("x = w = 0.5\n", [("x", 1, "0.5"), ("w", 1, "0.5")]),
    ("y = 1\ny += x\n", [("y", 1, "1"), ("y", 2, "y += x")]),
    ("a, *rest = values\n", [("a", 1, "values (unpacked)"), ("rest", 1, "values (unpacked)")]),
    ("obj.x = 1.0\nitems[0] = 2.0\n", []),  # attributes and elements are not names
    ("x: float\n", []),  # an annotation alone binds nothing
])
def test_each_binding_form_is_an_assignment(source, expected):
    assert [(a.name, a.lineno, a.text) for a in parse(source).assignments] == expected


@pytest.mark.parametrize("source, counts", [
    ("for i in range(steps):\n    y = x\n", {"steps"}),
    ("y = lp[np.arange(n), labels]\n", {"np", "n", "labels"}),
    ("y = x[k:k + 2]\n", {"k"}),
    ("y = sum(x, axis=ax)\n", {"ax"}),
    ("y = sum(x, ax)\n", {"ax"}),
    ("y = reshape(x, (r, c))\n", {"r", "c"}),
    ("y = x.reshape(r, c)\n", {"r", "c"}),
    ("y = np.zeros(n) + x\n", {"n"}),
    ("y = max(x, n)\n", set()),  # Python's max of two operands: n is an operand, not an axis
    ("y = x * n\n", set()),
])
def test_names_used_as_counts_indices_axes_or_shapes(source, counts):
    assert parse(source).count_names == counts


@pytest.mark.parametrize("source, lineno, words", [
    ("x = 1\nreturn x\n", 2, "'return' outside function"),
    ("x = 1\nyield x\n", 2, "'yield' outside function"),
    ("x = 1\nbreak\n", 2, "'break' outside loop"),
    ("nonlocal x\nx = 1\n", 1, "nonlocal declaration not allowed at module level"),
    ("x = 1\nglobal x\n", 2, "global declaration"),
])
def test_compile_time_errors_name_themselves_and_their_line(source, lineno, words):
    with pytest.raises(CellError) as error:
        parse(source)
    assert error.value.lineno == lineno and words in error.value.message and error.value.category == "syntax"


def test_deletions_are_recorded():
    assert parse("x = 1\ndel x\n").deletions == (("x", 2),)


# ---------------------------------------------------------------- source texts, at any size (issue 9)


def _operation_texts_by_get_source_segment(source):
    """The oracle: the instrumenter as it was, asking ast.get_source_segment for each text."""
    import ast

    from adiff_magic.parser import _Instrumenter

    instrument = _Instrumenter(lambda node: ast.get_source_segment(source, node) or "")
    instrument.visit(ast.parse(source))
    return instrument.expressions, instrument.assignments


SEGMENT_CELLS = [
    SEED,
    "x = 0.5\ny = (square(x) +\n     exp(x)) * \\\n    sin(x)\nz = y[0:1] if False else -y\n",  # multi-line, \
    "변수 = 0.5\n값 = square(변수) + sin(변수)  # 한국어 주석\ny = 값 * (변수\n   + 변수)\n",  # Korean names
    "x = 0.5\ns = '가나다 é'; y = sin(x) * 2 + cos(x)  # ü ß\nz = (y ** 3\n     + len('ö'))\n",  # non-ASCII text
    "x = 0.5\r\ny = (sin(x) +\r\n  cos(x))\rz = y * 2\n",  # \r\n and \r line ends
    "a, (b, c) = 1.0, (2.0, 3.0)\nz: float = a*b\ny = [v * 2 for v in (a, b)][0] + (w := c ** 2)\ny += -a\n",
    "x = 0.5\n\x0cy = sin(x)\t+ 1\nπ = 3.14\nθ = π * x\n",  # form feed, tab, Greek
    "x = 0.5\ny = (\n    x\n    *\n    2\n)\n",
]


SEGMENT_IDS = ["seed", "multi-line", "korean-names", "non-ascii-text", "cr-lf", "binding-forms", "ff-tab-greek",
               "one-token-per-line"]


@pytest.mark.parametrize("source", SEGMENT_CELLS, ids=SEGMENT_IDS)
def test_operation_and_assignment_texts_are_what_get_source_segment_gives(source):
    expressions, assignments = _operation_texts_by_get_source_segment(source)
    program = parse(source)
    assert program.expressions == tuple(expressions) and program.assignments == tuple(assignments)


def test_non_ascii_cells_are_cut_at_characters_not_bytes():
    program = parse("변수 = 0.5\n값 = square(변수) + sin(변수)  # 주석\n")
    assert [e.text for e in program.expressions] == ["square(변수)", "sin(변수)", "square(변수) + sin(변수)"]
    assert [a.text for a in program.assignments] == ["0.5", "square(변수) + sin(변수)"]


@pytest.mark.parametrize("source", SEGMENT_CELLS, ids=SEGMENT_IDS)
def test_segments_agree_with_get_source_segment_on_every_node(source):
    import ast

    from adiff_magic.parser import _Segments

    segment = _Segments(source)
    for node in ast.walk(ast.parse(source)):
        if hasattr(node, "end_col_offset"):
            assert segment(node) == (ast.get_source_segment(source, node) or ""), ast.dump(node)


def test_a_sum_of_2000_terms_on_one_line_is_parsed_whole():
    terms = [f"x*{i}" for i in range(1, 2001)]
    program = parse("x = 0.5\ny = " + " + ".join(terms) + "\n")
    assert len(program.expressions) == 2000 + 1999
    assert program.expressions[-1].text == " + ".join(terms) == program.assignments[-1].text
    assert program.expressions[2].text == "x*1 + x*2"  # the chain nests to the left: x*1 + x*2 first


def test_a_3000_line_cell_keeps_each_line_and_text():
    source = "x = 0.5\nv1 = sin(x)\n" + "".join(f"v{i} = sin(v{i - 1})\n" for i in range(2, 3000))
    program = parse(source)
    assert len(program.assignments) == 3000 and program.assigned[-1] == "v2999"
    assert program.expressions[-1] == program.expressions[-1].__class__(3000, "sin(v2998)")


@pytest.mark.parametrize("source, counts", [
    ("y = x[i[j[k]]]\n", {"i", "j", "k"}),  # nested subscripts: every name inside
    ("y = reshape(reshape(x, n), m)\n", {"n", "m"}),  # the inner call is an argument before the shape
    ("y = reshape(x, reshape(s, n))\n", {"reshape", "s", "n"}),  # a counting argument: every name inside
    ("y = sum(x[a], axis=b[c])\n", {"a", "b", "c"}),
    ("f = lambda t: t[i]\ndef g(u):\n    return u[j]\n", {"i", "j"}),  # bodies too, as Python reads them
    ("y = x.sum(k)\n", {"k"}),
])
def test_count_names_in_nested_positions(source, counts):
    assert parse(source).count_names == counts


@pytest.mark.parametrize("source, bounds, counts", [
    ("y = clip(x, lo, hi)\n", {"lo", "hi"}, set()),
    ("y = clip(x, -c, c * 2)\n", {"c"}, set()),
    ("y = clip(x, x_min=lo, x_max=hi)\n", {"lo", "hi"}, set()),
    ("y = x.clip(lo, hi)\n", {"lo", "hi"}, set()),  # a method's bounds are all its arguments
    ("y = clip(x[k], lo[j], hi)\n", {"lo", "j", "hi"}, {"k", "j"}),  # an index inside a bound still counts
    ("y = clip(x, 0.0, 1.0) * w\n", set(), set()),
])
def test_names_used_as_clip_bounds(source, bounds, counts):
    program = parse(source)
    assert (program.bound_names, program.count_names) == (bounds, counts)


def _cells():
    """Random cells: names and strings in several scripts, operations nested and split over lines."""
    import keyword

    from hypothesis import strategies as st

    names = st.text(alphabet="axé변수πθü가_", min_size=1, max_size=3).filter(
        lambda s: s.isidentifier() and not keyword.iskeyword(s))
    atoms = names | st.sampled_from(["0.5", "2", "'가나'", "'é'"])
    gap = st.sampled_from([" ", "", "  ", "\n    ", "\r\n  "])  # inside parentheses: a line break is allowed

    def combine(children):
        binary = st.tuples(children, st.sampled_from(["+", "*", "-", "/", "**"]), gap, children).map(
            lambda t: f"({t[0]} {t[1]}{t[2]}{t[3]})")
        call = st.tuples(st.sampled_from(["sin", "square", "f"]), gap, children).map(lambda t: f"{t[0]}({t[1]}{t[2]})")
        return binary | call | children.map(lambda c: f"-{c}") | st.tuples(names, children).map(
            lambda t: f"{t[0]}[{t[1]}]")

    expressions = st.recursive(atoms, combine, max_leaves=8)
    lines = st.tuples(names, expressions, st.sampled_from(["", "  # 주석 ü"])).map(lambda t: f"{t[0]} = {t[1]}{t[2]}")
    return st.tuples(st.lists(lines, min_size=1, max_size=4), st.sampled_from(["\n", "\r\n"])).map(
        lambda t: t[1].join(t[0]) + t[1])


def test_random_cells_get_the_texts_get_source_segment_gives():
    from hypothesis import given

    @given(_cells())
    def check(source):
        expressions, assignments = _operation_texts_by_get_source_segment(source)
        program = parse(source)
        assert program.expressions == tuple(expressions) and program.assignments == tuple(assignments)

    check()
