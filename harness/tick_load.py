"""The example service's live ticks under load: real feeds, uvicorn, many browsers; every tick checked.

Two ``mt5-worker feed`` processes serve the simulator's two demo trade servers (MetaQuotes-Demo and Simulated-Live,
9 symbols each: 18 symbols) at ``MT5_SIMULATOR_TICK_RATE``. They start as after an outage of ``history`` seconds
(each stream's last entry that old), so they first backfill it. ``examples/fastapi_app.py`` runs under uvicorn;
many WebSocket and some SSE clients (:mod:`harness.tick_clients`) each watch one or two symbols of one server from
a common moment ``T0`` (``since``) until each of their symbols passed ``T1``. From ``T0`` (or ``burst_at`` seconds
later) on:

- some clients stall: they ask for a whole server's symbols from the start of the history (megabytes) and never
  read, so the service's sends block once the sockets' buffers are full (Linux lets a loopback socket buffer 4 MB:
  a stall at a live rate would take half an hour to show);
- one WebSocket client catches up from the start of the history (a burst far over a connection's queue: the
  stream must wait for it, not cut it off);
- one SSE client watching two symbols disconnects half-way and resumes with ``Last-Event-ID``;
- the service's resident memory is sampled.

Ground truth is the simulator's ``copy_ticks_range`` drawn here (:mod:`harness.ground_truth`): every reading
client's ticks of each of its symbols, from its ``since`` to ``T1``, must equal it exactly (0 missing, 0
duplicated, in order); what a stalled client got before it was cut off must be an exact prefix of it, and it must
be cut off (close code 1013 once it reads again; the SSE response ending) and counted on the service's
``/metrics``. Used by
``tests/integration/test_example_streams.py`` (a hundred clients) and bench S1 (a thousand, with latencies).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from examples import live_ticks
from harness import ground_truth, tick_clients
from harness.env import clock_offset, simulated_now
from harness.fleet import Fleet
from harness.processes import FeedProcess
from harness.tick_clients import Received, Target, Watch
from harness.web import ExampleService, cpu_seconds, rss_bytes
from mt5_worker.cli.devstack import wait_for
from mt5_worker.simulator.market import SYMBOLS
from mt5_worker.streams import publisher
from mt5_worker.streams.codec import TICK_FIELDS, number
from mt5_worker.streams.ids import EntryId
from mt5_worker.streams.keys import ticks_key

# One feed per trade server, each with an account of its own there.
FEEDS = {"MetaQuotes-Demo": (10000001, "demo-10000001"), "Simulated-Live": (20000001, "demo-20000001")}
SYMBOL_NAMES = tuple(spec.name for spec in SYMBOLS)  # every server lists the same 9
STALLED_SYMBOLS = 9  # a stalled client watches a whole server
RETENTION_MS = 3_600_000  # MT5_STREAM_RETENTION's default
# The memory bound: a queued tick (a dict of 11 fields) measured about 0.55 kB in CPython (a queue without bound
# grew 44 MB holding 3 stalled clients' 81,000 ticks), a stalled connection's transport buffers are 64 kB; each
# twice over. A reading connection holds the ticks on their way to it: while the service runs seconds behind (a
# burst of the market, a machine short of CPU) up to LAG_TICKS of them. Slack for the allocator.
TICK_BYTES = 1024
CONNECTION_BYTES = 256 * 1024
LAG_TICKS = 100  # ten seconds of a busy pair of symbols
MEMORY_SLACK = 32 * 1024 * 1024
STALL_WAIT = 120.0  # seconds past the window the stalled clients may wait to be cut off (a machine under load)


@dataclass(frozen=True)
class Load:
    ws: int = 100  # reading WebSocket clients
    sse: int = 4  # reading SSE clients
    stalled_ws: int = 2
    stalled_sse: int = 1
    resuming_sse: int = 1
    catching_up: int = 1  # WebSocket clients reading from the start of the history
    history: float = 600.0  # seconds the feeds backfill first (each stalled client's backlog: over 4 MB)
    burst_at: float = 0.0  # seconds after T0 the stalled and catching-up clients (bursts of work) connect
    deflate: bool = True  # WebSocket per-message compression, which uvicorn offers and browsers take by default
    window: float = 6.0  # seconds from T0 to T1
    rate: float = 5.0  # MT5_SIMULATOR_TICK_RATE: mean ticks per second per symbol
    connect_budget: float = 3.0  # seconds from planning to T0: every client connects before the window opens
    seed: int = 22

    @property
    def stalled(self) -> int:
        return self.stalled_ws + self.stalled_sse

    def memory_bound(self) -> int:
        """How much the service's RSS may grow from T0 (every reading client connected) to its peak: each stalled
        connection holds at most a full queue and its buffers until it is cut off, each reading one the ticks on
        their way to it, and slack. An unbounded queue, or memory kept per tick sent, goes past it."""
        stalled = self.stalled * (live_ticks.QUEUE * TICK_BYTES + CONNECTION_BYTES)
        reading = (self.ws + self.sse + self.resuming_sse + self.catching_up) * LAG_TICKS * TICK_BYTES
        return stalled + reading + MEMORY_SLACK


@dataclass
class Outcome:
    load: Load
    history_ms: int  # the start of the history: the stalled and catching-up clients' since
    since_ms: int  # T0
    until_ms: int  # T1
    clients: list[Received]
    truth: dict[tuple[str, str], list[ground_truth.Tick]]  # from history_ms to until_ms
    cut_off: dict[str, float]  # mt5_stream_clients_cut_off_total by transport
    rss: list[tuple[float, int]]  # (seconds from T0, bytes)
    rss_at_t0: int
    cpu: list[tuple[float, float, float]]  # (seconds from T0, the service's CPU seconds so far, this process's)
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def delays(self, kind: str = "ws", *, before_bursts: bool = False) -> list[float]:
        """Seconds from each tick's time to its arrival, every live client of ``kind`` over the window (or only
        before the stalled and catching-up clients connected)."""
        end = self.since_ms + self.load.burst_at * 1000 if before_bursts else self.until_ms
        return [d for c in self.clients if c.watch.kind == kind and c.watch.since_ms is None
                for (_, _, ms, _, _), d in zip(c.ticks, c.delays, strict=True)
                if self.since_ms <= ms <= end]  # fmt: skip

    def cpu_ms_per_1000(self, clients: bool = False) -> float:
        """The service's CPU (or, ``clients``, this process's: the clients') per 1,000 ticks delivered to reading
        clients, from T0 until the bursts (or T1)."""
        end = self.load.burst_at or self.load.window
        spent = [mine if clients else service for t, service, mine in self.cpu if 0 <= t <= end]
        delivered = sum(1 for c in self.clients if c.watch.since_ms is None
                        for _, _, ms, _, _ in c.ticks if self.since_ms <= ms <= self.since_ms + end * 1000)  # fmt: skip
        return (spent[-1] - spent[0]) * 1e6 / delivered if len(spent) > 1 and delivered else float("nan")

    def expected(self, server: str, symbol: str, since_ms: int) -> list[ground_truth.Tick]:
        truth = self.truth[server, symbol]
        return truth[bisect.bisect_left(truth, since_ms, key=lambda t: t.time_msc) :]


def plan(load: Load, history_ms: int) -> list[Watch]:
    """The clients: each reading one picks a server and one or two of its symbols (seeded)."""
    rng = random.Random(load.seed)
    servers = list(FEEDS)

    def pick(kind: str, count: int | None = None, since_ms: int | None = None) -> Watch:
        server = rng.choice(servers)
        symbols = rng.sample(SYMBOL_NAMES, count or rng.choice((1, 2)))
        return Watch(kind, server, tuple(symbols), since_ms)

    watches = [pick("ws") for _ in range(load.ws)] + [pick("sse") for _ in range(load.sse)]
    watches += [pick("resuming-sse", 2) for _ in range(load.resuming_sse)]
    watches += [pick("ws", since_ms=history_ms) for _ in range(load.catching_up)]
    watches += [pick("stalled-ws", STALLED_SYMBOLS, history_ms) for _ in range(load.stalled_ws)]
    watches += [pick("stalled-sse", STALLED_SYMBOLS, history_ms) for _ in range(load.stalled_sse)]
    return watches


def seed_history(redis_url: str, rate: float, seconds: float) -> int:
    """Make each stream's last entry the real tick of ``seconds`` ago (a feed that was down that long): a feed
    starting then backfills from it. Returns that moment (epoch ms, the trade servers' time)."""
    start_ms = int((simulated_now() - seconds) * 1000)
    r = redis.Redis.from_url(redis_url)
    for server in FEEDS:
        sim = ground_truth.terminal(server, rate)
        for symbol in SYMBOL_NAMES:
            first = ground_truth.ticks(sim, symbol, start_ms, start_ms + 60_000)[0]
            fields = {name: number(value) for name, value in _tick_values(sim, symbol, first).items()}
            publisher.append(r, ticks_key(server, symbol), [(EntryId.parse(first.id), fields)], RETENTION_MS)
    r.close()
    return start_ms


def _tick_values(sim: Any, symbol: str, tick: ground_truth.Tick) -> dict[str, Any]:
    second = tick.time_msc // 1000
    for record in sim.copy_ticks_range(symbol, second, second + 1, -1):
        if int(record["time_msc"]) == tick.time_msc:
            return {name: record[name] for name in TICK_FIELDS}
    raise AssertionError("the tick is in its own second")


def start_feeds(fleet: Fleet, rate: float, **settings: Any) -> list[FeedProcess]:
    """A feed per server serving all its symbols; returns once each leads and every stream is caught up."""
    feeds = []
    for server, (login, password) in FEEDS.items():
        feeds.append(fleet.feed(f"feed-{server}", wait=False, MT5_FEED_LOGIN=login, MT5_FEED_PASSWORD=password,
                                MT5_FEED_SERVER=server, MT5_FEED_SYMBOLS=",".join(SYMBOL_NAMES),
                                MT5_SIMULATOR_TICK_RATE=rate, **settings))  # fmt: skip
    for feed in feeds:
        feed.wait_ready()
    r = redis.Redis.from_url(fleet.redis_url)

    def caught_up() -> bool:
        now_ms = simulated_now() * 1000
        for key in (ticks_key(server, symbol) for server in FEEDS for symbol in SYMBOL_NAMES):
            last = publisher.last_id(r, key)
            if last is None or now_ms - last.ms > 30_000:
                return False
        return True

    wait_for(caught_up, 120, "every symbol's ticks, caught up")
    r.close()
    return feeds


def run(fleet: Fleet, load: Load, service: ExampleService | None = None) -> Outcome:
    """Start the feeds (after seeding their history) and the service (unless given) on ``fleet``, run the
    clients, check every tick."""
    history_ms = seed_history(fleet.redis_url, load.rate, load.history)
    if service is None:
        start_feeds(fleet, load.rate)
        # A stalled browser answers no keep-alive ping until it reads again: uvicorn's pings (20 s, then 20 s) must
        # outlast the wait for the cut-off, or on a slow machine they close it first (1011) and the cut-off is untested.
        pings = ("--ws-ping-interval", "20", "--ws-ping-timeout", str(load.window + STALL_WAIT))
        service = fleet.example_service(*pings, *(() if load.deflate else ("--ws-per-message-deflate", "false")))
    watches = plan(load, history_ms)
    since_ms = int((simulated_now() + load.connect_budget) * 1000)
    until_ms = since_ms + int(load.window * 1000)
    outcome = asyncio.run(_drive(service, watches, load, history_ms, since_ms, until_ms))
    check(outcome)
    return outcome


async def _drive(service: ExampleService, watches: Sequence[Watch], load: Load, history_ms: int, since_ms: int,
                 until_ms: int) -> Outcome:  # fmt: skip
    target = Target(service.url, since_ms, until_ms, clock_offset())
    pid = service.pid
    rss: list[tuple[float, int]] = []
    cpu: list[tuple[float, float, float]] = []
    t0 = since_ms / 1000 - clock_offset()  # T0 on this machine's clock

    async def sample() -> None:
        while True:
            rss.append((time.time() - t0, rss_bytes(pid)))
            cpu.append((time.time() - t0, cpu_seconds(pid), time.process_time()))
            await asyncio.sleep(0.25)

    async def wake_stalled() -> None:
        """Once the service cut every stalled client of a transport off (or past the window and a grace), they
        read again, before the service's keep-alive pings give up on them (set to outlast this wait)."""
        deadline = time.time() + load.window + STALL_WAIT
        waiting = {"websocket": load.stalled_ws, "sse": load.stalled_sse}
        try:
            while waiting and time.time() < deadline:
                for transport, count in list(waiting.items()):
                    with contextlib.suppress(httpx.HTTPError):  # a service this busy answers late: ask again
                        if await asyncio.to_thread(service.metric, "mt5_stream_clients_cut_off",
                                                   transport=transport) >= count:  # fmt: skip
                            target.wake_up(transport)
                            del waiting[transport]
                await asyncio.sleep(0.5)
        finally:
            for transport in waiting:
                target.wake_up(transport)

    sampler = asyncio.ensure_future(sample())
    bursts = [w for w in watches if w.since_ms is not None]  # the stalled and catching-up clients
    clients = [asyncio.ensure_future(tick_clients.run(w, target)) for w in watches if w not in bursts]
    await asyncio.sleep(max(0.0, t0 - time.time()))
    rss_at_t0 = rss_bytes(pid)  # every other client connected: what the bursts add comes after
    await asyncio.sleep(max(0.0, t0 + load.burst_at - time.time()))
    clients += [asyncio.ensure_future(tick_clients.run(w, target)) for w in bursts]
    waker = asyncio.ensure_future(wake_stalled())
    received = await asyncio.gather(*clients)
    await waker
    sampler.cancel()
    cut = {transport: await asyncio.to_thread(service.metric, "mt5_stream_clients_cut_off", transport=transport)
           for transport in ("websocket", "sse")}  # fmt: skip
    truth = await asyncio.to_thread(_truth, load.rate, history_ms, until_ms)
    return Outcome(load, history_ms, since_ms, until_ms, list(received), truth, cut, rss, rss_at_t0, cpu)


def _truth(rate: float, since_ms: int, until_ms: int) -> dict[tuple[str, str], list[ground_truth.Tick]]:
    out = {}
    for server in FEEDS:
        sim = ground_truth.terminal(server, rate)
        for symbol in SYMBOL_NAMES:
            out[server, symbol] = ground_truth.ticks(sim, symbol, since_ms, until_ms)
    return out


def check(outcome: Outcome) -> None:
    """Compare every client with the ground truth; fill ``outcome.figures`` and ``outcome.problems``."""
    problems = outcome.problems
    missing = duplicated = disordered = exact = received_total = 0
    stalled_ok = 0
    for client in outcome.clients:
        watch = client.watch
        if client.error is not None and not watch.kind.startswith("stalled"):
            problems.append(f"{watch.kind} client on {watch.server} {watch.symbols}: {client.error}")
            continue
        since_ms = outcome.since_ms if watch.since_ms is None else watch.since_ms
        got: dict[str, list[ground_truth.Tick]] = defaultdict(list)
        for symbol, entry_id, ms, bid, ask in client.ticks:
            if since_ms <= ms <= outcome.until_ms:
                got[symbol].append(ground_truth.Tick(entry_id, ms, bid, ask))
        if watch.kind.startswith("stalled"):
            prefix = all(got[s] == outcome.expected(watch.server, s, since_ms)[: len(got[s])] for s in watch.symbols)
            closed = client.close_code == 1013 if watch.kind == "stalled-ws" else client.ended
            stalled_ok += prefix and closed and client.error is None
            if not (prefix and closed and client.error is None):
                problems.append(f"{watch.kind} client: prefix of the truth {prefix}, close code "
                                f"{client.close_code}, ended {client.ended}, error {client.error}")  # fmt: skip
            continue
        received_total += sum(map(len, got.values()))
        ok = True
        for symbol in watch.symbols:
            truth, mine = outcome.expected(watch.server, symbol, since_ms), got[symbol]
            missing += len(set(truth) - set(mine))
            duplicated += len(mine) - len(set(mine))
            disordered += mine != sorted(mine, key=lambda t: (t.time_msc, int(t.id.split("-")[1])))
            if mine != truth:
                ok = False
                lost = sorted(set(truth) - set(mine))
                problems.append(
                    f"{watch.kind} client on {watch.server} {symbol} since {since_ms}: {len(mine)} ticks "
                    f"of {len(truth)}" + (f", first missing at {lost[0].time_msc}" if lost else "")
                )
        exact += ok
        if client.gaps:
            problems.append(f"{watch.kind} client got {client.gaps} gap events")
    _figures(outcome, missing, duplicated, disordered, exact, received_total, stalled_ok)


def _figures(outcome: Outcome, missing: int, duplicated: int, disordered: int, exact: int, received_total: int,
             stalled_ok: int) -> None:  # fmt: skip
    load = outcome.load
    reading = [c for c in outcome.clients if not c.watch.kind.startswith("stalled")]
    resumed = [c for c in reading if c.watch.kind == "resuming-sse"]
    window_ticks = sum(t.time_msc >= outcome.since_ms for ticks in outcome.truth.values() for t in ticks)
    cut_total = sum(outcome.cut_off.values())
    peak = max((b for _, b in outcome.rss), default=0)
    growth = peak - outcome.rss_at_t0
    late = sum(c.connected_at + clock_offset() > outcome.since_ms / 1000 for c in reading)
    delays = sorted(outcome.delays())
    outcome.figures = {
        "clients: WebSocket, SSE (reading); stalled": f"{load.ws + load.catching_up}, "
                                                      f"{load.sse + load.resuming_sse}; {load.stalled}",
        "tick rate (mean per second per symbol)": load.rate, "window T0-T1 (s)": load.window,
        "history backfilled (s)": load.history,
        "ticks the servers made in the window (18 symbols)": window_ticks,
        "ticks the reading clients received": received_total,
        "clients exactly the ground truth": f"{exact} of {len(reading)}",
        "missing": missing, "duplicated": duplicated, "clients out of order": disordered,
        "resuming SSE clients exact after reconnecting": sum(c.reconnects > 0 and c.error is None for c in resumed),
        "clients cut off (mt5_stream_clients_cut_off_total: WebSocket, SSE)": ", ".join(
            f"{outcome.cut_off.get(t, 0):g}" for t in ("websocket", "sse")),
        "stalled clients: exact prefix, then 1013 / response end": f"{stalled_ok} of {load.stalled}",
        "service RSS at T0 (MB)": round(outcome.rss_at_t0 / 2**20, 1),
        "service RSS peak (MB)": round(peak / 2**20, 1),
        "RSS growth bound (MB)": round(load.memory_bound() / 2**20, 1),
        "reading clients connected after T0": late,
        "WebSocket latency p50 / p99 / max over the whole window (ms)": _quantiles(delays),
        "CPU per 1,000 ticks delivered (ms): the service, the clients' process": f"{outcome.cpu_ms_per_1000():.0f}, "
                                                                                 f"{outcome.cpu_ms_per_1000(True):.0f}",
    }  # fmt: skip
    too_few = max(50, int(load.rate * load.window * len(FEEDS) * len(SYMBOL_NAMES) / 4))
    outcome.problems += [what for what, bad in (
        (f"{missing} ticks missing", missing), (f"{duplicated} ticks duplicated", duplicated),
        (f"{disordered} clients out of order", disordered),
        (f"{len(reading) - exact} clients not exactly the ground truth", exact != len(reading)),
        (f"only {window_ticks} ticks in the window (fewer than {too_few})", window_ticks < too_few),
        (f"{cut_total:g} clients cut off, {load.stalled} stalled", cut_total != load.stalled),
        (f"RSS grew {growth / 2**20:.1f} MB, over the bound", growth > load.memory_bound()),
        ("a resuming client did not reconnect", not all(c.reconnects for c in resumed)),
    ) if bad]  # fmt: skip


def _quantiles(delays: Sequence[float]) -> str:
    if not delays:
        return "none"
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return f"{p50 * 1000:.1f} / {p99 * 1000:.1f} / {delays[-1] * 1000:.1f}"
