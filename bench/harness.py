"""What the benchmark scripts share: a private Redis, real worker processes, a publishing client, results.

Workers are the production command (``celery -A mt5_worker.worker.app worker --pool=prefork --concurrency=1``, see
``mt5_worker.cli.devstack.worker_argv``) plus ``-I bench.tasks`` for the bench-only tasks, configured through the
environment like any deployment. Results are read straight from the result backend's keys (``MGET``): the
client never subscribes to 10,000 result channels, and every result carries the worker's ``date_done``, so
rates are measured between completions on the worker side, not by how fast this client polls.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from mt5_worker.worker.settings import worker_settings

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/pN_*.py` as well as `python -m bench.pN_*`
    sys.path.insert(0, str(REPO))

from mt5_worker.cli.devstack import ManagedProcess, RedisServer, worker_argv  # noqa: E402

READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
Account = tuple[int, str, str]  # login, server, password


@dataclass
class Fleet:
    """A private Redis and the worker processes started against it; everything stops on exit."""

    log_dir: Path
    redis: RedisServer = field(init=False)
    workers: list[ManagedProcess] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.log_dir).start()
        os.environ["REDIS_URL"] = self.redis.url  # this process's router reads the registry there
        if "celeryconfig" in sys.modules:  # read before: its router would read another Redis's registry
            worker_settings.cache_clear()
            importlib.reload(sys.modules["celeryconfig"])
        self.client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        self.app = Celery("bench-client", set_as_current=False)
        self.app.config_from_object("celeryconfig")
        # No result backend on the client: results are read with MGET (see results()).
        self.app.conf.update(broker_url=self.redis.url, result_backend="disabled")

    def env(self, **settings: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5_", "CELERY_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env |= {"REDIS_URL": self.redis.url, "MT5_BACKEND": "simulator", "MT5_LOG_FORMAT": "json",
                "MT5_LOG_LEVEL": "WARNING"}  # fmt: skip
        return env | {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in settings.items()}

    def start_worker(self, name: str | None = None, **settings: Any) -> ManagedProcess:
        """A production worker (plus the bench tasks); ``settings`` are ``MT5_*`` environment variables."""
        name = f"{name or 'w'}-{next(self._names)}"  # a log file of its own (ManagedProcess appends)
        argv = worker_argv(f"{name}@bench", "--loglevel=WARNING", "-I", "bench.tasks")
        worker = ManagedProcess(name, argv, self.env(**settings), self.log_dir)
        self.workers.append(worker.start())
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def fresh_redis(self) -> None:
        """Forget everything (queues, results, registry, sessions) between variants."""
        self.client.flushdb()

    def publish(self, task: str, requests: Iterable[dict[str, Any]], queue: str | None = None) -> list[str]:
        """Send one message per kwargs dict; ``queue=None`` lets celeryconfig's routes pick (affinity)."""
        options = {"queue": queue} if queue else {}
        with self.app.producer_or_acquire() as producer:
            return [self.app.send_task(task, kwargs=kw, producer=producer, **options).id for kw in requests]

    def results(self, ids: Sequence[str], timeout: float, poll: float = 0.25) -> list[dict[str, Any]]:
        """Wait for every task's result meta; raise if one failed (its error type and message only)."""
        metas: dict[str, dict[str, Any]] = {}
        pending = list(ids)
        deadline = time.monotonic() + timeout
        while pending:
            still = []
            for chunk in _chunks(pending, 2000):
                for task_id, raw in zip(chunk, self.client.mget([f"celery-task-meta-{i}" for i in chunk]), strict=True):
                    meta = json.loads(raw) if raw else None
                    if meta and meta["status"] in READY:
                        metas[task_id] = meta
                    else:
                        still.append(task_id)
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} of {len(ids)} results missing after {timeout} s; logs in "
                                       f"{self.log_dir}")  # fmt: skip
                time.sleep(poll)
        failed = [m for m in metas.values() if m["status"] != "SUCCESS"]
        if failed:
            error = failed[0]["result"] or {}
            raise RuntimeError(f"{len(failed)} tasks failed, e.g. {error.get('exc_type')}: {error.get('exc_message')}")
        return [metas[i] for i in ids]

    def call(self, task: str, queue: str | None = None, timeout: float = 60, **kwargs: Any) -> Any:
        (meta,) = self.results(self.publish(task, [kwargs], queue), timeout, poll=0.05)
        return meta["result"]

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the workers (every process of their groups) and Redis; None off Linux.

        On a shared machine, CPU per request is steadier than requests per second: other load stretches the
        wall clock, not the work."""
        if not Path("/proc/self/stat").exists():
            return None
        groups = {w.process.pid for w in self.workers if w.process is not None}
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):  # a process that just ended
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) in groups:  # pgrp: the worker and its pool children
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        info = self.client.info("cpu")
        return total + float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def close(self) -> None:
        self.stop_workers()
        self.app.close()
        self.redis.stop()


@contextlib.contextmanager
def fleet(keep_logs: bool = False) -> Iterator[Fleet]:
    """A Fleet in a temporary directory (its processes' logs), removed afterwards unless ``keep_logs``."""
    tmp = Path(tempfile.mkdtemp(prefix="mt5-bench-"))
    f = Fleet(tmp)
    try:
        yield f
    finally:
        f.close()
        if keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def done_at(meta: dict[str, Any]) -> float:
    return datetime.fromisoformat(meta["date_done"]).timestamp()


def rate(metas: Sequence[dict[str, Any]], after: float = 0.0) -> float:
    """Completions per second between the first and the last completion (n - 1 intervals), counting only
    those after ``after`` (e.g. once this client stopped publishing and no longer competes for the CPU)."""
    times = sorted(t for t in map(done_at, metas) if t >= after)
    if len(times) < 2 or times[-1] <= times[0]:
        raise ValueError("need at least two completions at different times to measure a rate")
    return (len(times) - 1) / (times[-1] - times[0])


# --- accounts and traffic -------------------------------------------------------------------------------------


def accounts(n: int, first_login: int = 30_000_001, server: str = "Bench-Demo") -> list[Account]:
    return [(first_login + i, server, f"bench-pw-{i:04d}") for i in range(n)]


def write_accounts(path: Path, accts: Sequence[Account]) -> Path:
    """An ``MT5_SIMULATOR_ACCOUNTS`` file the workers' simulators load."""
    path.write_text(json.dumps([{"login": login, "server": server, "password": password, "name": f"Bench {login}"}
                                for login, server, password in accts]))  # fmt: skip
    return path


def zipf_trace(accts: Sequence[Account], n: int, s: float, seed: int) -> list[Account]:
    """``n`` picks, the k-th hottest account with weight 1/k**s; which accounts are hot is shuffled too."""
    rng = random.Random(seed)
    order = list(accts)
    rng.shuffle(order)
    return rng.choices(order, weights=[1 / k**s for k in range(1, len(order) + 1)], k=n)


def kwargs_of(account: Account) -> dict[str, Any]:
    login, server, password = account
    return {"login": login, "server": server, "password": password}


def scaled(profile: dict[str, float], factor: float) -> dict[str, float]:
    return {name: seconds * factor for name, seconds in profile.items()}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
