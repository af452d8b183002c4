"""C1: what the clients cost. Three measurements on one real worker (``zero`` latency) and a private Redis:

1. ``MT5Client`` sends/s against a bare ``app.send_task`` of the same task (publishing only, no worker
   consuming): what the client adds per send (routing, redaction, expiry). Target >= 0.9.
2. ``AsyncMT5Client`` with ``--concurrency`` awaits in flight: event-loop lag p99 (a 5 ms ticker's
   overshoot) while they run. Target < 20 ms.
3. requests/s and client CPU ms per request: ``AsyncMT5Client`` (one event loop) against ``MT5Client`` in a
   200-thread pool, the same requests.

    .venv/bin/python -m bench.c1_clients [--quick] [--requests 3000] [--rounds 5] [--docs PATH]
"""

from __future__ import annotations

import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import report
from bench.harness import Fleet, accounts, fleet, kwargs_of, specs, zipf_trace
from harness.accounts import write_accounts
from mt5_worker.client import MT5Client
from mt5_worker.client.async_client import AsyncMT5Client
from mt5_worker.settings import Settings

SEND_TARGET = 0.9
LAG_TARGET_MS = 20.0
TICK = 0.005


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--requests", type=int, help="requests per measurement (default 3000; quick 200)")
    parser.add_argument("--rounds", type=int, help="send-rate rounds per client (default 5; quick 2)")
    parser.add_argument("--concurrency", type=int, default=500, help="awaits in flight (default 500)")
    args = parser.parse_args(argv)
    n = args.requests or (200 if args.quick else 3000)
    rounds = args.rounds or (2 if args.quick else 5)

    with fleet(args.keep_logs, forked=args.quick) as f:
        accts = accounts(10)
        trace = [kwargs_of(a) for a in zipf_trace(accts, n, 1.1, seed=5)]
        settings = f.settings()
        send = send_rates(f, settings, trace, rounds)
        f.fresh_redis()
        f.start_worker("c1", MT5_SIMULATOR_ACCOUNTS=write_accounts(f.log_dir / "accounts.json", specs(accts)))
        f.call("mt5.health", queue="mt5")
        for kw in {kw["login"]: kw for kw in trace}.values():  # every account pooled before timing
            f.call("mt5.account_info", **kw)
        async_run = asyncio.run(async_load(settings, trace, args.concurrency))
        sync_run = thread_load(f, settings, trace, threads=200)

    send_ratio = statistics.median(m / b for m, b in zip(send["MT5Client"], send["bare"], strict=True))
    lag_p99 = async_run["lag_p99_ms"]
    print(f"C1 clients: {n} requests per measurement, {rounds} send rounds, {args.concurrency} awaits in flight")
    for name, rates in send.items():
        rounds_text = " ".join(f"{r:.0f}" for r in rates)
        print(f"sends/s {name:<10} median {statistics.median(rates):8.0f}  rounds {rounds_text}")
    for name, run in (("AsyncMT5Client", async_run), ("MT5Client x200 threads", sync_run)):
        print(f"{name:<24} {run['rate']:7.0f} req/s  client CPU {run['cpu_ms']:.3f} ms/request")
    print(f"event-loop lag during the async load: p50 {async_run['lag_p50_ms']:.1f} ms, p99 {lag_p99:.1f} ms, "
          f"max {async_run['lag_max_ms']:.1f} ms")  # fmt: skip
    lag_met = lag_p99 < LAG_TARGET_MS
    send_met = send_ratio >= SEND_TARGET
    print(report.ratio_line("C1", "MT5Client sends / bare send_task", send_ratio, f">= {SEND_TARGET:g}", send_met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        rows = [
            ("MT5Client sends/s (publish only)", f"{statistics.median(send['MT5Client']):.0f}", ""),
            ("bare `send_task` sends/s (publish only)", f"{statistics.median(send['bare']):.0f}", ""),
            ("AsyncMT5Client, one event loop", f"{async_run['rate']:.0f} req/s", f"{async_run['cpu_ms']:.3f}"),
            ("MT5Client, 200 threads", f"{sync_run['rate']:.0f} req/s", f"{sync_run['cpu_ms']:.3f}"),
        ]
        body = f"""\
## C1: what the clients cost

A private Redis (broker and results) and one worker on the simulator (`zero` latency), {n} `mt5.account_info`
requests over 10 pooled accounts (Zipf(1.1)) per measurement.
- Sends: publishing only (no worker consumes), {rounds} alternating rounds; `MT5Client.submit_account_info` against
  `app.send_task("mt5.account_info", kwargs=...)` on the same app (whose router then picks the queue).
- Async: `AsyncMT5Client.account_info` with {args.concurrency} awaits in flight on one event loop; lag = how late
  a coroutine sleeping {TICK * 1000:.0f} ms wakes up, sampled throughout.
- Threads: `MT5Client.account_info` called from a 200-thread pool, the same requests.
Client CPU = this process's CPU time over the run / requests.

{report.table(["measure", "result", "client CPU ms per request"], rows)}

Event-loop lag during the async load: p50 {async_run["lag_p50_ms"]:.1f} ms, p99 **{lag_p99:.1f} ms**, max
{async_run["lag_max_ms"]:.1f} ms (target p99 < {LAG_TARGET_MS:g} ms: {"met" if lag_met else "NOT met"}).

**Ratio (MT5Client sends / bare send_task): {send_ratio:.2f}; target >= {SEND_TARGET:g}:
{"met" if send_met else "NOT met"}.**

Command: `{report.command("bench.c1_clients", report.argv())}`; machine: {report.machine()}.
"""
        report.update_section(
            docs,
            "C1",
            body,
            [
                report.Verdict("sends/s, MT5Client / bare send_task", f"{send_ratio:.2f}", f">= {SEND_TARGET}",
                               send_met),
                report.Verdict("event-loop lag p99, AsyncMT5Client", f"{lag_p99:.1f} ms", f"< {LAG_TARGET_MS:g} ms",
                               lag_met),
            ],
        )  # fmt: skip
    return 0


def send_rates(f: Fleet, settings: Settings, trace: list[dict[str, Any]], rounds: int) -> dict[str, list[float]]:
    """Publish-only rates, alternating the clients round by round; the queues are emptied between runs."""
    app = f.app
    client = MT5Client(app=app, settings=settings)
    runs: dict[str, Any] = {
        "MT5Client": lambda kw: client.submit_account_info(kw["login"], kw["server"], kw["password"]),
        "bare": lambda kw: app.send_task("mt5.account_info", kwargs=kw),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for send in runs.values():  # warm: connections, the router's reading of the registry
        send(trace[0])
    for r in range(rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            started = time.perf_counter()
            for kw in trace:
                runs[name](kw)
            rates[name].append(len(trace) / (time.perf_counter() - started))
            f.fresh_redis()
    client.close()
    return rates


async def async_load(settings: Settings, trace: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append((time.perf_counter() - before - TICK) * 1000)

    async with AsyncMT5Client(settings) as client:
        await client.health()
        gate = asyncio.Semaphore(concurrency)

        async def one(kw: dict[str, Any]) -> None:
            async with gate:
                result = await client.account_info(kw["login"], kw["server"], kw["password"], timeout=120)
                assert result["login"] == kw["login"]

        ticking = asyncio.ensure_future(ticker())
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(kw) for kw in trace))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stop.set()
        await ticking
    lags.sort()
    return {
        "rate": len(trace) / wall,
        "cpu_ms": cpu * 1000 / len(trace),
        "lag_p50_ms": lags[len(lags) // 2],
        "lag_p99_ms": lags[int(len(lags) * 0.99)],
        "lag_max_ms": lags[-1],
    }


def thread_load(f: Fleet, settings: Settings, trace: list[dict[str, Any]], threads: int) -> dict[str, float]:
    app = f.client_app()  # with a result backend: MT5Client waits on its results
    client = MT5Client(app=app, settings=settings)
    client.health()

    def one(kw: dict[str, Any]) -> None:
        assert client.account_info(kw["login"], kw["server"], kw["password"], timeout=120)["login"] == kw["login"]

    with ThreadPoolExecutor(threads) as pool:
        cpu, wall = time.process_time(), time.perf_counter()
        list(pool.map(one, trace))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    client.close()
    app.close()
    return {"rate": len(trace) / wall, "cpu_ms": cpu * 1000 / len(trace)}


if __name__ == "__main__":
    raise SystemExit(main())
