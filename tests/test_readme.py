"""The README's commands are the ones CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    test_command = next(line for line in ci_lines if "pytest" in line)
    assert test_command in readme.splitlines()


def test_the_readmes_picture_is_what_the_code_prints_today():
    from adiff_magic.parser import parse
    from adiff_magic.render import to_text
    from adiff_magic.runner import run

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- seed-output -->\n```\n", 1)[1].split("\n```", 1)[0]
    result, _ = run(parse("x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"), {})
    assert block == to_text(result)


def test_the_readmes_network_is_what_the_code_prints_today():
    import numpy as np

    from adiff_magic.parser import parse
    from adiff_magic.render import to_text
    from adiff_magic.runner import run

    readme = (ROOT / "README.md").read_text()
    cell = readme.split("<!-- mlp-output -->", 1)[0].rsplit("```\n%%grad\n", 1)[1].split("```", 1)[0]
    block = readme.split("<!-- mlp-output -->\n```\n", 1)[1].split("\n```", 1)[0]
    result, _ = run(parse(cell), {"np": np})
    assert block == to_text(result)
    assert "dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3)" in block  # the sentence the section promises


def test_the_readmes_two_modes_are_what_the_code_prints_today():
    from adiff_magic.magic import GradMagics, options_from
    from IPython.core.magic_arguments import parse_argstring
    from adiff_magic.parser import parse
    from adiff_magic.render import to_text
    from adiff_magic.runner import run

    readme = (ROOT / "README.md").read_text()
    head = readme.split("<!-- both-output -->", 1)[0].rsplit("```\n%%grad ", 1)[1].split("```", 1)[0]
    line, cell = head.split("\n", 1)
    block = readme.split("<!-- both-output -->\n```\n", 1)[1].split("\n```", 1)[0]
    result, _ = run(parse(cell), {}, options_from(parse_argstring(GradMagics.grad, line)))
    assert block == to_text(result)
    assert "reverse: 1 backward pass gave all 4 input gradients; forward: 4 passes, one per input" in block


def test_the_readmes_module_map_matches_the_files():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```\n", 2)[1]
    listed = {line.split()[0] for line in block.splitlines() if line.split() and line.split()[0].endswith(".py")}
    modules = {f"{package}/{path.name}" for package in ("engine", "adiff_magic")
               for path in (ROOT / package).glob("*.py") if path.name != "__init__.py"}
    assert listed == modules


def test_each_module_has_its_test_file():
    modules = [path.stem for package in ("engine", "adiff_magic") for path in (ROOT / package).glob("*.py")
               if path.name != "__init__.py"]
    missing = [name for name in modules if not (ROOT / "tests" / f"test_{name}.py").exists()]
    assert not missing, missing
