"""What an import loads, in a fresh interpreter each: the manager, the tasks and the clients load neither the
simulator nor numpy (nor the other adapters); choosing the simulator does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.env import REPO, child_env

pytestmark = pytest.mark.integration  # starts a Python process per case (a fresh sys.modules), not through fixtures


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
        "import mt5_worker.cli.main",  # `mt5-worker --help`, worker and beat: conformance's checks load on use
    ],
)
def test_importing_the_service_loads_neither_the_simulator_nor_numpy(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert [] == [m for m in loaded if m == "numpy" or m.startswith(("mt5_worker.simulator", "numpy."))]
    assert "mt5_worker.bridge.terminal" not in loaded and "mt5_worker.terminal.metatrader5" not in loaded


def test_choosing_the_simulator_loads_it() -> None:  # the test above can fail: this is what it looks for
    loaded = _loaded_after("import mt5_worker.backends as b, mt5_worker.settings as s; b.create_terminal(s.Settings())")
    assert "mt5_worker.simulator" in loaded and "numpy" in loaded
