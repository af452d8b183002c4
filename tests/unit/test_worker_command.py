"""The worker command line mt5-worker worker builds: prefork on Linux, solo on Windows, without gossip and mingle."""

from __future__ import annotations

import pytest

from mt5_worker.cli import worker_command


@pytest.mark.parametrize(("platform", "pool"), [("linux", "--pool=prefork"), ("win32", "--pool=solo")])
def test_worker_defaults_to_prefork_on_linux_and_solo_on_windows(platform: str, pool: str) -> None:
    argv = worker_command(["-n", "x@%h"], platform=platform)
    assert pool in argv and "--concurrency=1" in argv and argv[-2:] == ["-n", "x@%h"]
    # as the test and demo workers run (devstack): gossip would send every worker every other worker's heartbeats
    assert {"--without-gossip", "--without-mingle"} <= set(argv)
