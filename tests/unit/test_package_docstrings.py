"""Package docstrings list their modules: a newcomer reads a package's ``__init__`` first, and a module it does not
name is one the newcomer will not find."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.env import REPO

ROOTS = ("mt5_worker", "bench", "harness", "reliability")
PACKAGES = sorted(path.parent for root in ROOTS for path in (REPO / root).rglob("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_package_docstring_names_each_of_its_modules(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    members = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
    members += [p.name for p in package.iterdir() if (p / "__init__.py").exists()]
    missing = [m for m in sorted(members) if not re.search(rf"(?<![\w]){re.escape(m)}(?![\w])", docstring)]
    assert [] == missing, f"{package.relative_to(REPO)}/__init__.py: its docstring does not name {missing}"
