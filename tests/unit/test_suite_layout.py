"""The layout of the suite itself (docs/development/testing.md): test modules live in the layer that
says what they exercise, and they share code only through tests/support (no test module, and no
conftest, is imported by another module)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LAYERS = {"unit", "service", "contract", "migrations", "http", "console", "cli", "e2e"}


def _modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add("." * node.level + (node.module or ""))  # relative: refused below
    return found


def test_modules_import_only_the_support_package_of_the_suite() -> None:
    wrong = {}
    for path in _modules():
        suite_imports = {name for name in _imported(path) if name.startswith(("tests", "."))}
        outside = sorted(
            name for name in suite_imports if name != "tests.support" and not name.startswith("tests.support.")
        )
        if outside:
            wrong[str(path.relative_to(TESTS))] = outside
    assert wrong == {}, "shared test code belongs in tests/support/"


def test_test_modules_and_conftests_live_in_a_layer_and_support_holds_no_tests() -> None:
    misplaced = []
    for path in _modules():
        relative = path.relative_to(TESTS)
        is_test = path.name.startswith("test_") or path.name == "conftest.py"
        if is_test and relative != Path("conftest.py") and relative.parts[0] not in LAYERS:  # support is none
            misplaced.append(str(relative))
    assert misplaced == []
