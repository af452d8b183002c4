"""The harness's fork server (``harness.forkserver``) starts workers as the production command does.

Every other integration test starts its workers, beats, bridges and feeds through it, so what is pinned here is
what those tests take for granted: a forked command reads its own environment, not the server's, and ends with
the exit code and the words ``python -m`` would give it; a command the server has not prepared, or one asking
for interpreter settings other than the server's, is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.env import child_env
from harness.forkserver import fork_server
from harness.processes import ForkedProcess
from mt5_worker.cli.devstack import ManagedProcess, worker_argv

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures


def test_a_forked_worker_reads_its_own_settings_and_exits_as_the_command_does(tmp_path: Path) -> None:
    env = child_env({"REDIS_URL": "redis://127.0.0.1:1/0", "MT5_CONNECTION_POOL_SIZE": "0"})
    ended = {}
    for kind in (ManagedProcess, ForkedProcess):
        process = kind(kind.__name__, worker_argv("bad@test"), env, tmp_path, cwd=tmp_path).start()
        assert process.process is not None
        code = process.process.wait(60)
        log = process.log_text()
        assert "MT5_CONNECTION_POOL_SIZE" in log and "(1-1000)" in log, log
        ended[kind.__name__] = code, log.count("Traceback")
    assert ended["ManagedProcess"] == ended["ForkedProcess"]
    assert ended["ForkedProcess"][0] != 0


def test_the_fork_server_refuses_what_it_cannot_start_as_python_would(tmp_path: Path) -> None:
    """A command it has not prepared, and interpreter settings other than its own (read when it started)."""
    server = fork_server()
    with pytest.raises(ValueError, match=r"mt5_worker\.cli"):
        server.spawn(["python", "-m", "mt5_worker.cli", "demo"], child_env(), tmp_path / "x.log", tmp_path)
    with pytest.raises(ValueError, match="PYTHONHASHSEED"):
        server.spawn(worker_argv("x@test"), child_env() | {"PYTHONHASHSEED": "7"}, tmp_path / "y.log", tmp_path)
    assert [] == list(tmp_path.iterdir())
