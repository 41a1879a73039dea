"""The declared dependencies and the locks agree, and nothing the server runs needs a test-only package.

README command 1 installs requirements/runtime.lock and the package without its dependencies; a
runtime dependency that only the test lock pins breaks every new user's first start (issue 13).
scripts/check-fresh-install proves the same on a real fresh venv in the test command."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            found[canonicalize_name(name)] = version.strip()
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_in_the_runtime_lock_within_its_range() -> None:
    runtime = pins("runtime.lock")
    for declared in map(Requirement, project()["dependencies"]):
        if declared.marker is not None and not declared.marker.evaluate():
            continue
        name = canonicalize_name(declared.name)
        assert name in runtime, f"{declared.name} is a runtime dependency but requirements/runtime.lock lacks it"
        assert declared.specifier.contains(runtime[name], prereleases=True), (declared, runtime[name])


def test_the_test_lock_pins_the_runtime_lock_at_the_same_versions() -> None:
    test = pins("test.lock")
    for name, version in pins("runtime.lock").items():
        assert test.get(name) == version, f"{name}: runtime.lock {version}, test.lock {test.get(name)}"


def test_no_runtime_module_imports_a_test_only_package() -> None:
    """Every top-level import in src/ is the standard library, the package itself, or pinned in the runtime lock."""
    runtime = set(pins("runtime.lock"))
    distribution_of = {"multipart": "python-multipart", "yaml": "pyyaml", "jinja2": "jinja2", "psycopg": "psycopg"}
    test_only = set(pins("test.lock")) - runtime
    for path in sorted((ROOT / "src" / "admittance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "admittance" or top in sys.stdlib_module_names:
                    continue
                distribution = canonicalize_name(distribution_of.get(top, top))
                assert distribution not in test_only, (
                    f"{path.relative_to(ROOT)} imports {top}, which only tests install"
                )
