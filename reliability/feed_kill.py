"""Feeds killed and Redis restarted while a subscriber streams a symbol at a high tick rate: every tick exactly once.

    .venv/bin/python -m reliability.feed_kill [--quick] [--backend simulator|bridge] [--docs PATH] [--keep-logs]

Two ``mt5-worker feed`` processes serve one trade server (``MT5_SIMULATOR_TICK_RATE`` ticks per second, in bursts);
one leads. A subscriber follows the symbol's ticks stream from a moment on with the blocking reader the clients
use. Meanwhile the leading feed is SIGKILLed twice (a standby takes over, the killed one comes back as a standby)
and Redis (``--appendonly yes``) is restarted once. Ground truth is free: the deterministic simulator's
``copy_ticks_range`` over the same window, drawn in this process. The subscriber's ticks must equal it exactly: 0
missing, 0 duplicated, in order, with the entry IDs derived from the ticks. ``--backend bridge`` puts each feed's
terminal behind a bridge of its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from harness import ground_truth as harness_truth
from harness import markdown
from harness.env import env_values, simulated_now
from harness.fleet import Fleet
from harness.processes import FeedProcess
from harness.runs import command, docs_target, log_dir, parser
from mt5_worker.cli.devstack import wait_for
from mt5_worker.streams.codec import tick_from
from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import ticks_key
from mt5_worker.streams.positions import Source
from mt5_worker.streams.reader import follow
from reliability.report import DOCS

SECTIONS = markdown.Sections("reliability")
SERVER, SYMBOL = "MetaQuotes-Demo", "EURUSD"
ACCOUNT = {"MT5_FEED_LOGIN": 10000001, "MT5_FEED_PASSWORD": "demo-10000001", "MT5_FEED_SERVER": SERVER}
ENOUGH_TICKS = 500  # a run with fewer proves nothing about bursts, pages and failovers


@dataclass
class Received:
    ticks: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)


class _Stopped(Exception):
    pass


def subscribe(client: redis.Redis, after: EntryId, stop: threading.Event, into: Received) -> None:
    """Follow the symbol's ticks from ``after`` until ``stop`` is set, as a client's blocking iterator does."""

    def check() -> None:
        if stop.is_set():
            raise _Stopped

    source = Source(ticks_key(SERVER, SYMBOL), SYMBOL)
    try:
        for item in follow(client, {source: after}, lambda f, s, i: tick_from(f, SYMBOL, i), block=0.2, on_idle=check):
            (into.gaps if item["type"] == "gap" else into.ticks).append(item)
    except _Stopped:
        pass


def run(quick: bool, logs: Path, backend: str = "simulator") -> dict[str, Any]:
    rate = 200.0  # bursts leave some windows quiet (see enough_ticks_end)
    span = 15.0 if quick else 60.0
    settings = {"MT5_SIMULATOR_TICK_RATE": rate, "MT5_FEED_SYMBOLS": SYMBOL, "MT5_FEED_LEASE": 1.0,
                "MT5_FEED_POLL_INTERVAL": 0.02, **ACCOUNT}  # fmt: skip
    fleet = Fleet(logs, redis_args=["--appendonly", "yes", "--appendfsync", "always"], host="reliability", forked=quick)
    events: list[str] = []
    received = Received()
    stop = threading.Event()
    try:
        feeds = [start_feed(fleet, f"feed{i}", backend, settings) for i in (1, 2)]
        wait_for(lambda: any(f.leading() for f in feeds), 30, "a feed to lead")
        reader = redis.Redis.from_url(fleet.redis_url, socket_timeout=5, socket_connect_timeout=1)
        started_ms = int(simulated_now() * 1000)
        after = EntryId(started_ms, 0).before()
        subscriber = threading.Thread(target=subscribe, args=(reader, after, stop, received))
        subscriber.start()
        begin = time.monotonic()
        for moment, action in ((0.25, "kill"), (0.5, "redis"), (0.75, "kill")):
            time.sleep(max(0.0, begin + span * moment - time.monotonic()))
            if action == "kill":
                leader = next((f for f in feeds if f.running and f.leading()), None)
                if leader is None:
                    events.append("no leader to kill")
                    continue
                leader.kill()
                events.append(f"SIGKILL {leader.name}")
                leader.start(wait=True)  # back as a standby
            else:
                assert fleet.redis is not None
                fleet.redis.stop()  # SIGTERM: a clean shutdown, the AOF written
                time.sleep(1.0)
                fleet.redis.start()
                events.append("Redis restarted (down 1 s)")
        time.sleep(max(0.0, begin + span - time.monotonic()))
        ended_ms = enough_ticks_end(rate, started_ms, deadline=time.monotonic() + 3 * span)
        wait_for(lambda: received.ticks and received.ticks[-1]["time_msc"] >= ended_ms, 30, "the subscriber")
        stop.set()
        subscriber.join(timeout=10)
        leaders = sum(len([e for e in f.events() if e.get("event") == "mt5.feed.leading"]) for f in feeds)
    finally:
        stop.set()
        fleet.close()
    truth = ground_truth(rate, started_ms, ended_ms)
    got = [(t["id"], t["time_msc"], t["bid"], t["ask"]) for t in received.ticks if t["time_msc"] <= ended_ms]
    missing = len(set(truth) - set(got))
    duplicated = len(got) - len(set(got))
    in_order = got == sorted(got, key=lambda g: EntryId.parse(g[0]))
    figures = {
        "backend": backend, "tick rate (mean per second)": rate,
        "window (s)": round((ended_ms - started_ms) / 1000, 1),
        "ticks the trade server made in the window": len(truth), "ticks the subscriber received": len(got),
        "missing": missing, "duplicated": duplicated, "in order": in_order, "exactly the ground truth": got == truth,
        "gap events": len(received.gaps), "leaderships taken": leaders, "events": "; ".join(events),
    }  # fmt: skip
    problems = [what for what, bad in (
        (f"{missing} ticks missing", missing), (f"{duplicated} ticks duplicated", duplicated),
        ("out of order", not in_order), ("not the ground truth", got != truth),
        (f"only {len(truth)} ticks (fewer than {ENOUGH_TICKS})", len(truth) < ENOUGH_TICKS),
        ("fewer than 3 chaos events", len(events) < 3 or "no leader to kill" in events),
        (f"{len(received.gaps)} gap events", received.gaps),
    ) if bad]  # fmt: skip
    return {"figures": figures, "problems": problems, "settings": env_values(settings)}


def start_feed(fleet: Fleet, name: str, backend: str, settings: dict[str, Any]) -> FeedProcess:
    if backend == "bridge":
        simulator = {k: v for k, v in settings.items() if k.startswith("MT5_SIMULATOR_")}
        bridge = fleet.bridge(env=env_values(simulator))
        settings = {k: v for k, v in settings.items() if k not in simulator} | bridge.worker_env()
    return fleet.feed(name, **settings)


def enough_ticks_end(rate: float, started_ms: int, deadline: float) -> int:
    """The window's end: now, or later if the window so far holds fewer than ``ENOUGH_TICKS`` ticks. The market's
    minutes differ tenfold in ticks and the pinned clock runs on from the suite's start, so a window lands on a
    quiet stretch at times; it stays open (up to ``deadline``) until it holds enough to mean something."""
    sim = harness_truth.terminal(SERVER, rate)
    while True:
        now_ms = int(simulated_now() * 1000)
        enough = len(harness_truth.ticks(sim, SYMBOL, started_ms, now_ms)) >= ENOUGH_TICKS
        if enough or time.monotonic() >= deadline:
            return now_ms
        time.sleep(0.5)


def ground_truth(rate: float, started_ms: int, ended_ms: int) -> list[tuple[str, int, float, float]]:
    """The simulator's ticks of the window, drawn here, with the entry IDs a feed derives from them."""
    return list(harness_truth.ticks(harness_truth.terminal(SERVER, rate), SYMBOL, started_ms, ended_ms))


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__, DOCS)
    p.add_argument("--backend", choices=("simulator", "bridge"), default="simulator")
    args = p.parse_args(argv)
    with log_dir("mt5-feed-kill-", args.keep_logs) as logs:
        outcome = run(args.quick, logs, args.backend)
    for label, value in outcome["figures"].items():
        print(f"{label}: {value}")
    print("OK" if not outcome["problems"] else "PROBLEMS: " + "; ".join(outcome["problems"]))
    docs = docs_target(args.quick, args.docs, DOCS)
    if docs is not None:
        run_line = command("reliability.feed_kill", argv or [])
        table = markdown.table(["figure", "value"], list(outcome["figures"].items()))
        body = f"## feed_kill ({args.backend})\n\n{run_line}\n\n{table}"
        section = f"feed_kill_{args.backend}"
        markdown.rewrite(docs, lambda: "# Reliability\n", lambda text: SECTIONS.replace(text, section, body))
    return 0 if not outcome["problems"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
