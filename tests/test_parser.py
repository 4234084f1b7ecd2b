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
