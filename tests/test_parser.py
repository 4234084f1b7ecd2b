"""Tests for adiff_magic.parser: names, labels, instrumentation and located errors."""
import pytest

from adiff_magic.parser import CellError, check_names, parse

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
