"""``mt5-worker demo``: the whole stack on the simulator, on a fresh machine, in under a minute.

Starts (or reuses ``REDIS_URL``) a Redis, one worker and beat; sends a burst of ``mt5.account_info``
requests across the demo accounts; prints the results and the pool statistics; waits for an idle eviction;
stops everything. ``--serve`` keeps the stack up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mt5_worker.cli.devstack import (
    TRADING_HOUR,
    ManagedProcess,
    RedisServer,
    beat_argv,
    celery_argv,
    clock_offset_to,
    free_port,
    wait_for,
    worker_argv,
)
from mt5_worker.cli.progress import Progress
from mt5_worker.credentials import hide_url_password
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS

IDLE_TIMEOUT = 4  # seconds: short, so the demo shows an eviction
SWEEP_INTERVAL = 1
LATENCY = {"initialize": 0.5, "login": 0.05, "account_info": 0.002, "terminal_info": 0.002, "version": 0.002}


def run(*, serve: bool = False, requests: int = 40, seed: int = 7, out: Callable[[str], None] = print) -> int:
    settings = Settings.load()  # invalid settings stop the demo here, with the variable named
    with tempfile.TemporaryDirectory(prefix="mt5-demo-") as tmp, _stack(settings, Path(tmp), out) as client:
        started = time.monotonic()
        _burst(client, requests, seed, out)
        stats = client.pool_stats_all()
        _print_stats(stats, out)
        _await_eviction(client, out)
        out(f"\ndemo finished in {time.monotonic() - started:.1f} s")
        if serve:
            _serve(client.settings, Path(tmp), out)
    out("stopped worker, beat and Redis; nothing left running")
    return 0


@contextlib.contextmanager
def _stack(settings: Settings, tmp: Path, out: Callable[[str], None]) -> Iterator[Any]:
    """Redis (private unless REDIS_URL is set), a worker, beat and Flower when installed; all stopped on exit."""
    processes: list[ManagedProcess | RedisServer] = []
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        redis_url = settings.redis_url
        if redis_url is None:
            server = RedisServer(tmp).start()
            processes.append(server)
            redis_url = server.url
            out(f"started a private Redis at {redis_url}")
        else:
            out(f"using REDIS_URL={hide_url_password(redis_url)}")
        env = os.environ | {
            "REDIS_URL": redis_url, "MT5_BACKEND": "simulator", "MT5_CONNECTION_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            "MT5_IDLE_SWEEP_INTERVAL": str(SWEEP_INTERVAL), "MT5_SIMULATOR_LATENCY": json.dumps(LATENCY),
            "MT5_SIMULATOR_CLOCK_OFFSET": str(_clock_offset(settings, out)),
        }  # fmt: skip
        env.pop("MT5_WORKER_ID", None)
        os.environ.update(env)  # this process's Celery client reads the same settings
        worker = ManagedProcess("worker", worker_argv("demo@%h"), env, tmp).start()
        beat = ManagedProcess("beat", beat_argv(tmp), env, tmp).start()
        processes += [worker, beat]
        worker.wait_for_log("ready.", timeout=60)
        out(f"started worker demo@… (pid {worker.process.pid if worker.process else '?'}) and beat; "
            f"logs in {tmp}")  # fmt: skip
        from mt5_worker.client.threaded import MT5Client

        client = MT5Client(settings=Settings.load())
        wait_for(lambda: client.workers(), 30, "the worker to register")
        yield client
        client.close()
    except KeyboardInterrupt:
        out("\ninterrupted")
    finally:
        for process in reversed(processes):
            process.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _clock_offset(settings: Settings, out: Callable[[str], None]) -> float:
    """The simulated markets' clock: the one the settings name, else pinned to a weekday's trading hour, so the demo
    shows the same market on any day of the week."""
    if "simulator_clock_offset" in settings.model_fields_set:
        return settings.simulator_clock_offset
    out(f"simulated trade servers pinned to {TRADING_HOUR:%A %Y-%m-%d %H:%M} UTC (MT5_SIMULATOR_CLOCK_OFFSET)")
    return clock_offset_to(TRADING_HOUR)


def _burst(client: Any, requests: int, seed: int, out: Callable[[str], None]) -> None:
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(DEMO_ACCOUNTS))]  # a few hot accounts, a long tail
    picks = rng.choices(DEMO_ACCOUNTS, weights, k=requests)
    out(f"\nsending {requests} mt5.account_info requests over {len(set(picks))} accounts ...")
    started = time.monotonic()
    pending = [
        client.submit_account_info(a.login, a.server, a.password.get_secret_value()) for a in picks
    ]  # fmt: skip
    _await_all(pending, timeout=60)
    results = [r.get(timeout=60) for r in pending]
    elapsed = time.monotonic() - started
    if any(r["login"] != a.login for r, a in zip(results, picks, strict=True)):
        raise RuntimeError("a result came back for another account than requested")
    counts = Counter(r["login"] for r in results)
    by_login = {r["login"]: r for r in results}
    out(f"{len(results)} results in {elapsed:.2f} s, every one for the account requested\n")
    header = f"{'login':>9}  {'name':<11} {'server':<16} {'cur':<4} {'balance':>11} {'equity':>11} {'requests':>8}"
    out(header)
    out("-" * len(header))
    for login, n in counts.most_common():
        r = by_login[login]
        out(f"{login:>9}  {r['name']:<11} {r['server']:<16} {r['currency']:<4} {r['balance']:>11,.2f} "
            f"{r['equity']:>11,.2f} {n:>8}")  # fmt: skip


def _await_all(pending: list[Any], timeout: float) -> None:
    """Wait for every result, showing how many are in; ``get()`` afterwards raises what failed or timed out."""
    deadline = time.monotonic() + timeout
    with Progress(len(pending), "results") as progress:
        while (done := sum(1 for r in pending if r.ready())) < len(pending) and time.monotonic() < deadline:
            progress.update(done)
            time.sleep(0.1)
        progress.update(done)


def _print_stats(stats: list[dict[str, Any]], out: Callable[[str], None]) -> None:
    for s in stats:
        m = s["metrics"]
        out(f"\npool stats of {s['worker_id']}: {m['pool_size']}/{m['pool_capacity']} sessions, "
            f"terminal initialized {m['initializations']}x")  # fmt: skip
        out(f"  SDK logins {m['logins']} (of which switches back to pooled sessions {m['switches']}), "
            f"reuses of the active session {m['reuses']} (no SDK call)")  # fmt: skip
        out(f"  evictions: idle {m['idle_evictions']}, LRU {m['lru_evictions']}; retries {m['retries']}; "
            f"sessions in Redis {len(s['redis_sessions'] or [])}")  # fmt: skip


def _await_eviction(client: Any, out: Callable[[str], None]) -> None:
    out(f"\nwaiting for beat's idle sweep (idle timeout {IDLE_TIMEOUT} s, sweep every {SWEEP_INTERVAL} s) ...")

    def evicted_all() -> dict[str, Any] | None:
        stats: dict[str, Any] = client.pool_stats()
        return stats if stats["metrics"]["pool_size"] == 0 else None

    stats = wait_for(evicted_all, IDLE_TIMEOUT + 20, "the idle sweep")
    health = client.health()
    out(f"  all sessions logged out (idle evictions {stats['metrics']['idle_evictions']}, "
        f"sessions in Redis {len(stats['redis_sessions'] or [])}); the terminal stays up: "
        f"initialized={health['initialized']}")  # fmt: skip


def _serve(settings: Settings, tmp: Path, out: Callable[[str], None]) -> None:
    port = free_port()
    columns = "--tasks_columns=name,state,kwargs,result,received,runtime,worker"  # Flower hides arguments by default
    argv = celery_argv("flower", f"--port={port}", "--address=127.0.0.1", columns)
    flower = ManagedProcess("flower", argv, os.environ, tmp)
    try:
        import flower as _  # noqa: F401

        flower.start()
        out(f"Flower: http://127.0.0.1:{port}/")
    except ImportError:
        out("Flower is not installed (pip install 'mt5-worker[flower]')")
    out(f"the stack is up: REDIS_URL={hide_url_password(settings.effective_redis_url)}; press Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    finally:
        flower.stop()


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt
