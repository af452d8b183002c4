"""The fleet's own costs, part 2: what N workers cost Redis by being members (heartbeats, load reports), the
session bookkeeping of 50,000 accounts, and the event stream Flower reads (the broadcast idle sweep's fan-out:
:mod:`bench.capacity_broadcast`).

Members are simulated in this process with the workers' own code, not as worker processes: each is a real
:class:`~mt5_worker.worker.heartbeat.Heartbeat` step (its own registry connection; ``beat()`` as the worker's
thread calls it) and a real :class:`~mt5_worker.worker.load_report.LoadReporter` (its own broker connection). The
work of one heartbeat interval of fleet time is done as fast as this process can, and the Redis commands and CPU it
took (``INFO``) are divided by that interval: the load the fleet puts on Redis, whatever this process's speed.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import redis
from celery import Celery

from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.sessions import SessionStore, connect
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.snapshots import SessionInfo
from mt5_worker.settings import Settings
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.worker.heartbeat import STATUS_INTERVAL, Heartbeat
from mt5_worker.worker.load_report import LoadReporter
from mt5_worker.worker.reaper import drain
from mt5_worker.worker.runtime import WorkerRuntime
from mt5_worker.worker.settings import worker_settings

DEFAULTS = Settings.model_fields
HEARTBEAT: float = DEFAULTS["heartbeat_interval"].default
LOAD_REPORT: float = DEFAULTS["load_report_interval"].default


@dataclass
class RedisLoad:
    """What a window of fleet time cost Redis and this process (the members' side)."""

    commands_per_s: float
    redis_cpu: float  # Redis CPU seconds per second of fleet time (1.0 = one core)
    client_cpu_ms_per_worker_s: float  # the members' CPU, per worker per second


def redis_usage(r: redis.Redis) -> tuple[int, float]:
    info = r.info()
    return int(info["total_commands_processed"]), float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def idle_cpu(r: redis.Redis, seconds: float = 1.0) -> float:
    """Redis's own CPU per second while nobody sends it anything (its timers, its clients' upkeep)."""
    _, cpu = redis_usage(r)
    time.sleep(seconds)
    return (redis_usage(r)[1] - cpu - 40e-6) / seconds  # less the INFO itself


@contextlib.contextmanager
def measured(
    r: redis.Redis, fleet_seconds: float, workers: int, idle: float, out: dict[str, RedisLoad], key: str
) -> Iterator[None]:
    """The commands and CPU of ``fleet_seconds`` of the fleet's work done inside the block, however long it took:
    Redis's idle CPU over the block's wall time is taken out and its idle CPU over ``fleet_seconds`` put back."""
    commands, cpu = redis_usage(r)
    client, wall = time.process_time(), time.perf_counter()
    yield
    client, wall = time.process_time() - client, time.perf_counter() - wall
    commands2, cpu2 = redis_usage(r)
    work = max(0.0, cpu2 - cpu - idle * wall)
    out[key] = RedisLoad((commands2 - commands) / fleet_seconds, work / fleet_seconds + idle,
                         client / fleet_seconds / workers * 1e3)  # fmt: skip


@contextlib.contextmanager
def worker_environment(redis_url: str) -> Iterator[None]:
    """This process's worker settings (the Heartbeat step reads them) naming the bench's Redis."""
    saved = {k: os.environ.get(k) for k in ("REDIS_URL", "MT5_SESSIONS_REDIS_URL", "CELERY_BROKER_URL")}
    os.environ["REDIS_URL"] = redis_url
    for k in ("MT5_SESSIONS_REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(k, None)
    worker_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        worker_settings.cache_clear()


@dataclass
class Membership:
    workers: int
    departed: int
    redis_idle_cpu: float  # Redis's CPU with the fleet's connections open and nothing sent
    steady: RedisLoad  # heartbeats, load reports and status records, nobody departed
    reports_only: RedisLoad  # the load reports without the status records
    reports_reconnecting: RedisLoad  # the reports as they were: a new connection for each (an empty queue)
    after_departures: RedisLoad  # the same while ``departed`` members linger (e.g. after a rolling deploy)
    read_redis_us: float  # Redis CPU of one full membership read (what every beat did before)
    drain_ms: float  # client CPU of one drain of an empty departed queue (a new broker connection each)
    drain_commands: float
    drain_redis_us: float

    @property
    def before_steady_redis_cpu(self) -> float:
        """Every beat read the whole membership (N reads per interval), every report reconnected."""
        reconnecting = self.reports_reconnecting.redis_cpu - self.reports_only.redis_cpu
        return self.steady.redis_cpu + reconnecting + self.workers * self.read_redis_us / 1e6 / HEARTBEAT

    @property
    def before_departed_redis_cpu(self) -> float:
        """Every worker read the membership and drained every departed queue every beat."""
        drains = self.workers * self.departed / HEARTBEAT
        return self.before_steady_redis_cpu + drains * self.drain_redis_us / 1e6

    @property
    def drains_per_s(self) -> tuple[float, float]:
        """Drains per second, before (every worker every departed queue every beat) and now (its 2 reapers)."""
        from mt5_worker.fleet.registry import REAPERS

        return self.workers * self.departed / HEARTBEAT, min(REAPERS, self.workers) * self.departed / HEARTBEAT


def membership(app: Celery, redis_url: str, n: int, departed: int) -> Membership:
    r = connect(redis_url, timeout=30)
    r.flushdb()
    out: dict[str, RedisLoad] = {}
    with worker_environment(redis_url):
        members = [Heartbeat(SimpleNamespace(hostname=f"celery@host-{i:05d}", app=app)) for i in range(n)]
        for m in members:  # the work of an interval takes longer than the interval here: no member may lapse
            m.registry.ttl = 3600.0
        reporters = [LoadReporter(app, m.registry, m.terminal_id) for m in members]
        try:
            for m in members:
                m.beat()  # registered
            for reporter in reporters:
                reporter.report()  # each reporter's broker connection open, as in a running worker
            idle = idle_cpu(r)
            with measured(r, HEARTBEAT, n, idle, out, "steady"):
                _interval(members, reporters)
            with measured(r, HEARTBEAT, n, idle, out, "reports_only"):
                _interval([], reporters)
            with measured(r, HEARTBEAT, n, idle, out, "reports_reconnecting"):
                _interval([], reporters, reconnect=True)
            gone = WorkerRegistry(r, ttl=1)
            for i in range(departed):
                gone.heartbeat(f"celery@gone-{i:05d}", 20, time.time() - 60)
            with measured(r, HEARTBEAT, n, idle, out, "after_departures"):
                _interval(members, reporters)
            read_us = _read_cost(r, members[0].registry)
            drain = _drain_cost(app, r, {m.terminal_id: 20 for m in members})
        finally:
            for reporter in reporters:
                reporter.close()
    return Membership(n, departed, idle, out["steady"], out["reports_only"], out["reports_reconnecting"],
                      out["after_departures"], read_us, *drain)  # fmt: skip


def _interval(members: list[Heartbeat], reporters: list[LoadReporter], reconnect: bool = False) -> None:
    """One heartbeat interval of the fleet's work: each member beats once and reports its load
    ``HEARTBEAT / LOAD_REPORT`` times, with its status record once a second (``STATUS_INTERVAL``), as the
    members' threads would (``Heartbeat._report_load``, the thread's own step). ``reconnect``: the load reports
    alone, each on a new connection, as every report of an empty queue was on Redis before the reporter kept its
    connection."""
    for m in members:
        m.beat()
    per_status = max(1, round(STATUS_INTERVAL / LOAD_REPORT))
    for round_ in range(round(HEARTBEAT / LOAD_REPORT)):
        for i, reporter in enumerate(reporters):
            if reconnect or not members:
                reporter.report()
                if reconnect:
                    reporter.close()
                continue
            m = members[i]
            m._status_at = 0.0 if round_ % per_status == 0 else time.time()  # its status once a second
            m._report_load(reporter)


def _read_cost(r: redis.Redis, registry: WorkerRegistry, reads: int = 20) -> float:
    """Redis CPU of one full membership read, microseconds."""
    cpu = redis_usage(r)[1]
    for _ in range(reads):
        registry.read(time.time())
    return (redis_usage(r)[1] - cpu) / reads * 1e6


def _drain_cost(app: Celery, r: redis.Redis, live: dict[str, int], drains: int = 50) -> tuple[float, float, float]:
    """One drain of an empty departed queue: client CPU ms, Redis commands, Redis CPU us."""
    commands, cpu = redis_usage(r)
    started = time.process_time()
    for i in range(drains):
        drain(app, f"celery@gone-{i:05d}", live)
    elapsed = time.process_time() - started
    commands2, cpu2 = redis_usage(r)
    return elapsed / drains * 1e3, (commands2 - commands - 1) / drains, (cpu2 - cpu) / drains * 1e6


# --- session bookkeeping at 50,000 accounts -------------------------------------------------------------------


@dataclass
class Sessions:
    accounts: int
    workers: int
    bytes_per_session: float  # Redis memory (index entry + metadata hash)
    redis_us_per_write: float  # Redis CPU of one session's last-use write (ZADD + HSET, one round trip)
    sweep_round_ms: float  # every worker's sweep, one after another (each runs in its own worker, in parallel)
    sweep_redis_ms: float  # Redis CPU of one sweep round (all workers)
    sweep_ms_p50: float  # one worker's sweep
    evicted: int  # sessions the round evicted (the ones idle past the timeout)


def sessions(redis_url: str, accounts: int, workers: int, idle_share: float = 0.1) -> Sessions:
    """``accounts`` sessions over ``workers`` workers' indexes, ``idle_share`` of them idle past the timeout; then
    one sweep round (``WorkerRuntime.sweep`` of each worker) on the real stores."""
    r = connect(redis_url, timeout=30)
    r.flushdb()
    settings = Settings.load(_env_file=None, redis_url=redis_url)
    now = time.time()
    rng = random.Random(3)
    stores = [SessionStore(r, f"celery@host-{w:05d}") for w in range(workers)]
    for w, store in enumerate(stores):
        rows = []
        for k in range(w, accounts, workers):
            idle = rng.random() < idle_share
            used = now - settings.idle_timeout - 5 if idle else now - rng.uniform(0, 60)
            rows.append(SessionInfo(login=40_000_000 + k, server="Cap-Demo", pooled=True, active=False,
                                    created=used, last_used=used, uses=1))  # fmt: skip
        store.record(rows)
    indexes = sum(int(r.memory_usage(store.index_key) or 0) for store in stores)
    sampled = [stores[k % workers].session_key(40_000_000 + k) for k in range(0, accounts, max(1, accounts // 500))]
    hashes = statistics.mean(int(r.memory_usage(key) or 0) for key in sampled)
    per_session = indexes / accounts + hashes  # MEMORY USAGE: the keys themselves, whatever else Redis frees meanwhile
    sample, cpu = stores[0], redis_usage(r)[1]
    for i in range(2_000):
        sample.record([SessionInfo(40_000_000, "Cap-Demo", True, True, now, now + i * 1e-3, i)])
    write_us = (redis_usage(r)[1] - cpu) / 2_000 * 1e6
    manager = MT5ConnectionManager(SimulatedTerminal([]), settings)  # holds none of them: all listed by Redis only
    runtimes = [WorkerRuntime(settings, manager, store) for store in stores]
    cpu = redis_usage(r)[1]
    times = []
    for runtime in runtimes:  # the pool held none of them: each sweep drops its idle ones from Redis
        started = time.perf_counter()
        runtime.sweep(now)
        times.append(time.perf_counter() - started)
    left = sum(int(r.zcard(store.index_key)) for store in stores)
    manager.shutdown()
    return Sessions(accounts, workers, per_session, write_us, sum(times) * 1e3, (redis_usage(r)[1] - cpu) * 1e3,
                    statistics.median(times) * 1e3, accounts - left)  # fmt: skip


# --- what one request costs Redis -------------------------------------------------------------------------------


@dataclass
class PerRequest:
    requests: int
    commands: float  # Redis commands per request: publish, delivery, acknowledgement, result, events, bookkeeping
    redis_us: float  # Redis CPU per request
    result_bytes: float  # Redis memory of one stored result (an account_info), kept MT5_RESULT_EXPIRES
    result_expires: int


def per_request(f: Any, n: int) -> PerRequest:
    """One real worker (the production command, zero latency) serving ``n`` account_info requests sent by a client
    as the service's clients send them (routed, events on): Redis's commands and CPU per request."""
    from bench.harness import accounts, kwargs_of, specs, zipf_trace
    from harness.accounts import write_accounts
    from mt5_worker.fleet.routing import terminal_queue_name

    accts = accounts(20)
    file = write_accounts(f.log_dir / "capacity-accounts.json", specs(accts))
    f.start_worker("capacity", MT5_SIMULATOR_ACCOUNTS=file, MT5_SIMULATOR_LATENCY="zero", MT5_CONNECTION_POOL_SIZE=20)
    f.call("mt5.pool_stats", queue=terminal_queue_name("capacity@bench"), timeout=120)  # up and consuming
    f.router.refresh()
    trace = zipf_trace(accts, n, 1.1, 3)
    f.results(f.publish("mt5.account_info", [kwargs_of(a) for a in trace[:50]]), timeout=120)  # warm
    r = connect(f.redis_url, timeout=30)
    commands, cpu = redis_usage(r)
    ids = f.publish("mt5.account_info", [kwargs_of(a) for a in trace])
    f.results(ids, timeout=120 + n, poll=1.0)  # (its MGETs: one per second, a few commands in all)
    commands2, cpu2 = redis_usage(r)
    sizes = [int(r.memory_usage(f"celery-task-meta-{i}") or 0) for i in ids[:: max(1, n // 50)]]
    f.stop_workers()
    expires = int(Settings.load(_env_file=None).result_expires)
    return PerRequest(n, (commands2 - commands) / n, (cpu2 - cpu) / n * 1e6, statistics.median(sizes), expires)


# --- events: what Flower reads --------------------------------------------------------------------------------


@dataclass
class Events:
    flower_events_per_s: float  # events Flower's state (flower.events.EventsState) takes in per second, one core
    event_bytes: float  # a task event as published (JSON)


def flower_events(n_tasks: int, workers: int = 1_000) -> Events:
    """Flower's own event state fed the events a fleet sends (per task: sent, received, started, succeeded;
    per worker a heartbeat every 2 s), timed in this process: the core of Flower's work per event."""
    import json

    from flower.events import EventsState

    state = EventsState()
    events: list[dict[str, Any]] = []
    now = time.time()
    for i in range(n_tasks):
        task_id, host = str(uuid.uuid4()), f"celery@host-{i % workers:05d}"
        base = {"uuid": task_id, "hostname": host, "timestamp": now, "local_received": now, "clock": i, "utcoffset": 0,
                "pid": 100}  # fmt: skip
        events.append(base | {"type": "task-sent", "name": "mt5.account_info", "args": "()",
                              "kwargs": "{'login': 1, 'password': '***'}", "queue": "mt5.terminal.x"})  # fmt: skip
        events.append(base | {"type": "task-received", "name": "mt5.account_info", "args": "()",
                              "kwargs": "{'login': 1, 'password': '***'}", "retries": 0})  # fmt: skip
        events.append(base | {"type": "task-started"})
        events.append(base | {"type": "task-succeeded", "result": "{'login': 1, 'balance': 10000.0}", "runtime": 0.01})
        if i % 8 == 0:
            events.append({"type": "worker-heartbeat", "hostname": host, "timestamp": now, "local_received": now,
                           "clock": i, "utcoffset": 0, "freq": 2.0, "active": 1, "processed": i, "loadavg": [0.1] * 3,
                           "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux", "pid": 100})  # fmt: skip
    size = statistics.mean(len(json.dumps(e)) for e in events[:400])
    started = time.process_time()
    for event in events:
        state.event(event)
    return Events(len(events) / (time.process_time() - started), size)
