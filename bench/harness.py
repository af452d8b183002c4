"""What the benchmark scripts add to :class:`harness.fleet.Fleet`: a publishing client, results, rates, traffic.

Workers are the production command plus ``-I bench.tasks`` for the bench-only tasks, logging at WARNING, and
configured through the environment like any deployment. Results are read straight from the result backend's
keys (``MGET``): the client never subscribes to 10,000 result channels, and every result carries the worker's
``date_done``, so rates are measured between completions on the worker side, not by how fast this client polls.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from harness import fleet as harness_fleet
from harness import rabbitmq, runs
from harness.processes import WorkerProcess
from mt5_worker.simulator.specs import AccountSpec

READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
Account = tuple[int, str, str]  # login, server, password


class Fleet(harness_fleet.Fleet):
    """A private Redis and the bench's workers (``name@bench``); the client publishes without a result backend.
    ``broker_url`` (RabbitMQ) puts the queues there, the results staying in the Redis."""

    def __init__(self, log_dir: Path, broker_url: str | None = None, *, forked: bool = False) -> None:
        super().__init__(
            log_dir, host="bench", worker_args=("--loglevel=WARNING", "-I", "bench.tasks"),
            env={"MT5_LOG_LEVEL": "WARNING"}, results=False, broker_url=broker_url, forked=forked,
        )  # fmt: skip

    def start_worker(self, name: str = "w", **settings: Any) -> WorkerProcess:
        """A worker with ``settings`` (``MT5_*`` variables), not waited for: several start at once, and a
        script's clock runs from before they start (a backlog waits for them in Redis)."""
        return self.worker(name, wait=False, **settings)

    def publish(self, task: str, requests: Iterable[dict[str, Any]], queue: str | None = None) -> list[str]:
        """Send one message per kwargs dict; ``queue=None`` lets the fleet's routes pick (affinity)."""
        options = {"queue": queue} if queue else {}
        with self.app.producer_or_acquire() as producer:
            return [self.app.send_task(task, kwargs=kw, producer=producer, **options).id for kw in requests]

    def publish_each(self, task: str, requests: Sequence[dict[str, Any]], queues: Sequence[str | None]) -> list[str]:
        """Send one message per kwargs dict to the queue beside it (a router's choices, made by the caller)."""
        with self.app.producer_or_acquire() as producer:
            return [self.app.send_task(task, kwargs=kw, producer=producer, **({"queue": q} if q else {})).id
                    for kw, q in zip(requests, queues, strict=True)]  # fmt: skip

    def results(self, ids: Sequence[str], timeout: float, poll: float = 0.25) -> list[dict[str, Any]]:
        """Wait for every task's result meta; raise if one failed (its error type and message only)."""
        metas: dict[str, dict[str, Any]] = {}
        pending = list(ids)
        deadline = time.monotonic() + timeout
        while pending:
            still = []
            for chunk in _chunks(pending, 2000):
                for task_id, raw in zip(chunk, self.r.mget([f"celery-task-meta-{i}" for i in chunk]), strict=True):
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

    def call(self, name: str, *args: Any, queue: str | None = None, timeout: float = 60, **kwargs: Any) -> Any:
        """One task's result, read as :meth:`results` reads them (bench tasks take keyword arguments only)."""
        if args:
            raise TypeError("the bench client sends keyword arguments only")
        (meta,) = self.results(self.publish(name, [kwargs], queue), timeout, poll=0.05)
        return meta["result"]

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the workers (every process of their groups) and Redis; None off Linux.

        On a shared machine, CPU per request is steadier than requests per second: other load stretches the
        wall clock, not the work."""
        if not Path("/proc/self/stat").exists():
            return None
        groups = {w.pid for w in self.workers if w.pid is not None}
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):  # a process that just ended
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) in groups:  # pgrp: the worker and its pool children
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        info = self.r.info("cpu")
        return total + float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@contextlib.contextmanager
def fleet(keep_logs: bool = False, broker: str = "redis", *, forked: bool = False) -> Iterator[Fleet]:
    """A Fleet in a temporary directory (its processes' logs), removed afterwards unless ``keep_logs``; with
    ``broker="rabbitmq"`` its queues on RabbitMQ (``MT5_TEST_AMQP_URL``), in a vhost of its own when possible.
    Its processes start as production starts them unless ``forked`` (a quick run: see harness.forkserver)."""
    vhosts = rabbitmq.VirtualHosts(rabbitmq.amqp_url(), "bench") if broker == "rabbitmq" else None
    with runs.log_dir("mt5-bench-", keep_logs) as tmp:
        try:
            url = vhosts.new() if vhosts is not None else None
            if url is not None and (problem := rabbitmq.unreachable(url)) is not None:
                raise SystemExit(f"no RabbitMQ at {rabbitmq.shown(url)} ({problem}); set {rabbitmq.URL_VARIABLE}")
            f = Fleet(tmp, broker_url=url, forked=forked)
            try:
                yield f
            finally:
                f.close()
        finally:
            if vhosts is not None:
                vhosts.close()


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


def specs(accts: Sequence[Account]) -> list[AccountSpec]:
    """The accounts as the simulator knows them (for ``harness.accounts.write_accounts``, or in-process)."""
    return [AccountSpec(login=login, server=server, password=SecretStr(password), name=f"Bench {login}")
            for login, server, password in accts]  # fmt: skip


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
