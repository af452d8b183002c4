"""The package's structure, as a newcomer relies on it: what an import loads, and package docstrings that list
their modules."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import REPO, child_env

ROOTS = ("mt5_worker", "bench", "harness", "reliability")
PACKAGES = sorted(path.parent for root in ROOTS for path in (REPO / root).rglob("__init__.py"))


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=REPO, capture_output=True, text=True)
    assert 0 == done.returncode, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import mt5_worker.manager",
        "import mt5_worker.worker.tasks, mt5_worker.worker.trading_tasks",  # MT5_BACKEND unset: the simulator's
        "from mt5_worker.client import MT5Client, AsyncMT5Client",
        "import mt5_worker.backends, mt5_worker.settings, mt5_worker.task_specs",
    ],
)
def test_importing_the_service_loads_neither_the_simulator_nor_numpy(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert [] == [m for m in loaded if m == "numpy" or m.startswith(("mt5_worker.simulator", "numpy."))]
    assert "mt5_worker.bridge.terminal" not in loaded and "mt5_worker.terminal.metatrader5" not in loaded


def test_choosing_the_simulator_loads_it() -> None:  # the test above can fail: this is what it looks for
    loaded = _loaded_after("import mt5_worker.backends as b, mt5_worker.settings as s; b.create_terminal(s.Settings())")
    assert "mt5_worker.simulator" in loaded and "numpy" in loaded


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_package_docstring_names_each_of_its_modules(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    members = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
    members += [p.name for p in package.iterdir() if (p / "__init__.py").exists()]
    missing = [m for m in sorted(members) if not re.search(rf"(?<![\w]){re.escape(m)}(?![\w])", docstring)]
    assert [] == missing, f"{package.relative_to(REPO)}/__init__.py: its docstring does not name {missing}"
