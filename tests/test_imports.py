"""The packages' imports run one way: no module imports a module that imports it, directly or
through others (type-checking-only imports aside), and the engine knows nothing of adiff_magic."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path, package: str) -> set:
    """The modules of ``package`` that the module at ``path`` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and ast.unparse(node.test) == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [alias.name for alias in node.names]
                found.update(f"{package}.{name}" for name in names)
            elif node.module and node.module.split(".")[0] in ("engine", "adiff_magic"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] in ("engine", "adiff_magic"))
    return found


def graph() -> dict:
    edges = {}
    for package in ("engine", "adiff_magic"):
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            edges[name] = {target for target in imports_of(path, package) if target != name}
    return edges


def test_no_module_imports_one_that_imports_it():
    edges = graph()

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    cycles = [name for name in edges if name != "engine" and name != "adiff_magic" and reaches(name, name, set())]
    assert not cycles, f"import cycles through {cycles}"


@pytest.mark.parametrize("module", ["engine.core", "engine.functions", "engine.utils"])
def test_the_engine_knows_nothing_of_the_magic(module):
    assert not any(target.startswith("adiff_magic") for target in graph()[module])


def test_core_imports_only_the_exception_types_and_they_import_nothing():
    assert graph()["engine.core"] == {"engine.exceptions"}
    assert graph()["engine.exceptions"] == set()
