"""Benchmark: MT5ConnectionManager against initialize/login/shutdown per request, on the simulator.

Not a test: it prints numbers and asserts nothing about timing. The simulator sleeps for the ``realistic``
latency profile (initialize 2 s, login 0.5 s, other calls 2 ms) times ``--scale``. Run from the repo root:

    .venv/bin/python bench/bench_manager.py [--requests 400] [--accounts 40] [--scale 0.01] [--threads 8] [--seed 7]

See bench/README.md for what the columns mean.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

# Run as a script from a checkout, the package need not be installed: put the repo root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.env import clock_offset
from mt5_worker.logging import configure_logging
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.settings import Settings
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.specs import LATENCY_PROFILES, AccountSpec

Request = tuple[int, str, str]  # login, password, server


@dataclass
class Result:
    variant: str
    requests: int
    seconds: float
    sdk_initialize: int
    sdk_login: int
    logins: int | None = None
    switches: int | None = None
    reuses: int | None = None
    lru_evictions: int | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else float("inf")


def scaled_latency(scale: float) -> dict[str, float]:
    return {name: seconds * scale for name, seconds in LATENCY_PROFILES["realistic"].items()}


def demo_accounts(n: int) -> list[AccountSpec]:
    return [
        AccountSpec(
            login=30_000_001 + i,
            password=SecretStr(f"bench-pw-{i:04d}"),
            server="Bench-Demo",
            name=f"Bench Demo {i}",
            balance=1_000.0 * (i + 1),
        )
        for i in range(n)
    ]


def workload(accounts: Sequence[AccountSpec], requests: int, seed: int, skew: float = 1.1) -> list[Request]:
    """``requests`` account picks, Zipf-like: the k-th account is chosen with weight 1 / k**skew."""
    rng = random.Random(seed)
    order = list(accounts)
    rng.shuffle(order)  # which accounts are hot is random too, not simply the first logins
    weights = [1 / (rank**skew) for rank in range(1, len(order) + 1)]
    picks = rng.choices(order, weights=weights, k=requests)
    return [(a.login, a.password.get_secret_value(), a.server) for a in picks]


def run_naive(accounts: Sequence[AccountSpec], requests: Sequence[Request], latency: dict[str, float]) -> Result:
    """What the manager replaces: a fresh connection for every request."""
    sim = SimulatedTerminal(accounts, latency=latency, clock_offset=clock_offset())
    started = time.perf_counter()
    for login, password, server in requests:
        if not sim.initialize():
            raise RuntimeError(f"initialize failed: {sim.last_error()}")
        if not sim.login(login, password, server):
            raise RuntimeError(f"login {login} failed: {sim.last_error()}")
        info = sim.account_info()
        if info is None or info.login != login:
            raise RuntimeError(f"account_info for {login} failed: {sim.last_error()}")
        sim.shutdown()
    seconds = time.perf_counter() - started
    return Result(
        "naive (init+login+shutdown per request)", len(requests), seconds, sim.calls["initialize"], sim.calls["login"]
    )


def new_manager(
    accounts: Sequence[AccountSpec], latency: dict[str, float], pool_size: int
) -> tuple[SimulatedTerminal, MT5ConnectionManager]:
    sim = SimulatedTerminal(accounts, latency=latency, clock_offset=clock_offset())
    return sim, MT5ConnectionManager(sim, Settings.load(_env_file=None, pool_size=pool_size))


def run_manager(
    accounts: Sequence[AccountSpec], requests: Sequence[Request], latency: dict[str, float], pool_size: int
) -> Result:
    sim, manager = new_manager(accounts, latency, pool_size)
    started = time.perf_counter()
    for login, password, server in requests:
        info = manager.get_account_info(login, password, server)
        if info.login != login:
            raise RuntimeError(f"asked for {login}, got {info.login}")
    seconds = time.perf_counter() - started
    m = manager.metrics()
    manager.shutdown()
    return Result(
        f"manager, pool_size={pool_size}",
        len(requests),
        seconds,
        sim.calls["initialize"],
        sim.calls["login"],
        m.logins,
        m.switches,
        m.reuses,
        m.lru_evictions,
    )


class FirstCallClock:
    """Terminal proxy: records, per thread, when the first SDK call of the current request starts.

    The manager calls the terminal only while it holds its lock, and calls it at once after acquiring it, so
    (first call start - request start) is the time the request waited for the lock.
    """

    def __init__(self, terminal: SimulatedTerminal) -> None:
        self._terminal = terminal
        self._local = threading.local()

    def start_request(self) -> None:
        self._local.first_call = None

    @property
    def first_call(self) -> float | None:
        return getattr(self._local, "first_call", None)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._terminal, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._local, "first_call", 0.0) is None:
                self._local.first_call = time.perf_counter()
            return attr(*args, **kwargs)

        return call


@dataclass
class Fairness:
    variant: str
    requests: int
    seconds: float
    waits: list[float]  # seconds, all threads
    max_service: float


def run_fairness(
    variant: str,
    accounts: Sequence[AccountSpec],
    latency: dict[str, float],
    threads: int,
    per_thread: int,
    seed: int,
    lock_factory: Callable[[], Any] | None = None,
) -> Fairness:
    """``threads`` threads each send ``per_thread`` requests back to back, with no pause between them."""
    sim = SimulatedTerminal(accounts, latency=latency, clock_offset=clock_offset())
    probe = FirstCallClock(sim)
    manager = MT5ConnectionManager(probe, Settings.load(_env_file=None, pool_size=len(accounts)))
    if lock_factory is not None:
        manager._lock = lock_factory()  # comparison only: swap the manager's FIFO lock for another lock
    manager.initialize()
    workloads = [workload(accounts, per_thread, seed + t) for t in range(threads)]
    waits: list[list[float]] = [[] for _ in range(threads)]
    services: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        start.wait()
        for login, password, server in workloads[t]:
            probe.start_request()
            asked = time.perf_counter()
            manager.get_account_info(login, password, server)
            done = time.perf_counter()
            first = probe.first_call if probe.first_call is not None else asked
            waits[t].append(first - asked)
            services[t].append(done - first)

    pool = [threading.Thread(target=worker, args=(t,), name=f"bench-{t}") for t in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - began
    manager.shutdown()
    return Fairness(
        variant,
        threads * per_thread,
        seconds,
        [w for ws in waits for w in ws],
        max(s for ss in services for s in ss),
    )


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fmt(value: int | None) -> str:
    return "-" if value is None else str(value)


def print_throughput(results: Sequence[Result]) -> None:
    naive = results[0]
    header = (
        f"{'variant':<42} {'requests':>8} {'wall s':>7} {'req/s':>8} {'SDK init':>8} {'SDK login':>9} "
        f"{'logins':>6} {'switches':>8} {'reuses':>6} {'lru_ev':>6} {'speed-up':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.variant:<42} {r.requests:>8} {r.seconds:>7.2f} {r.rate:>8.1f} {r.sdk_initialize:>8} "
            f"{r.sdk_login:>9} {fmt(r.logins):>6} {fmt(r.switches):>8} {fmt(r.reuses):>6} "
            f"{fmt(r.lru_evictions):>6} {r.rate / naive.rate:>7.1f}x"
        )


def print_fairness(results: Sequence[Fairness], threads: int) -> None:
    header = (
        f"{'lock':<30} {'requests':>8} {'wall s':>7} {'wait p50 ms':>11} {'p99 ms':>8} {'max ms':>8} {'bound ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for f in results:
        ms = [w * 1000 for w in f.waits]
        bound = (threads - 1) * f.max_service * 1000
        print(
            f"{f.variant:<30} {f.requests:>8} {f.seconds:>7.2f} {statistics.median(ms):>11.2f} "
            f"{percentile(ms, 99):>8.2f} {max(ms):>8.2f} {bound:>8.2f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400, help="requests per variant (default 400)")
    parser.add_argument("--accounts", type=int, default=40, help="distinct accounts in the workload (default 40)")
    parser.add_argument(
        "--scale", type=float, default=0.01, help="factor on the realistic latencies (default 0.01: login 5 ms)"
    )
    parser.add_argument("--threads", type=int, default=8, help="threads in the fairness run (default 8)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the access pattern (default 7)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.accounts < 2 or args.threads < 1 or args.scale < 0:
        parser.error("need --requests >= 1, --accounts >= 2, --threads >= 1, --scale >= 0")

    configure_logging("console", "WARNING")  # the manager logs every SDK call at INFO
    latency = scaled_latency(args.scale)
    accounts = demo_accounts(args.accounts)
    requests = workload(accounts, args.requests, args.seed)
    shown = ", ".join(f"{name} {latency[name] * 1000:g} ms" for name in ("initialize", "login", "account_info"))
    top = max(requests.count(r) for r in set(requests))
    repeats = sum(a == b for a, b in itertools.pairwise(requests))
    print(f"latency: realistic x {args.scale:g} ({shown}, other calls alike)")
    print(
        f"workload: {args.requests} requests over {args.accounts} accounts, Zipf-like (s=1.1), seed {args.seed}; "
        f"{len(set(requests))} accounts used, hottest {top} requests, {repeats} same-account repeats in a row"
    )
    print()

    results = [run_naive(accounts, requests, latency)]
    for pool_size in sorted({max(1, args.accounts // 4), max(1, args.accounts // 2), args.accounts * 2}):
        results.append(run_manager(accounts, requests, latency, pool_size))
    print("(a)/(b) throughput, one thread")
    print_throughput(results)
    print()

    per_thread = max(1, args.requests // args.threads)
    fair = [
        run_fairness("FairLock (manager's, FIFO)", accounts, latency, args.threads, per_thread, args.seed),
        run_fairness(
            "threading.Lock (comparison)",
            accounts,
            latency,
            args.threads,
            per_thread,
            args.seed,
            lock_factory=threading.Lock,
        ),
    ]
    print(f"(c) fairness: {args.threads} threads x {per_thread} back-to-back requests, one manager")
    print_fairness(fair, args.threads)
    print(
        "wait = time from calling get_account_info() to the manager's first SDK call for it (the lock wait); "
        "bound = (threads - 1) x longest service time, about the most a FIFO waiter can wait"
    )


if __name__ == "__main__":
    main()
