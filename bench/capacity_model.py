"""A discrete-event model of the fleet: terminals, their queues, prefetch, batched serving, routing and logins.

One event queue (heapq), no threads, no clock: requests arrive (a backlog or an open-loop trace), a router places
each one as the client's router does, each worker reserves messages from its queue up to its prefetch, hands them
to its terminal as :mod:`mt5_worker.worker.batching` does (or FIFO), and its terminal serves one at a time, paying
a login whenever the account differs from the one it is on. The router is the package's own
:class:`~mt5_worker.fleet.routing.AffinityRouter` on the model's clock, reading (every ``cache_seconds``) the load
reports the simulated workers make every ``report_interval`` and told of each answer as the clients tell theirs:
the model places requests exactly as the code would given the same loads. Orders go to their account's first
choice, never spilled (``ORDERED_TASKS``). What the router sends to the shared queue (``shared``, or ``adaptive``
past a terminal's bound) waits there for whichever worker has room in its prefetch and asks first; a worker takes
from its own queue before the shared one.

What the model does not know it takes as parameters (:class:`Costs`), calibrated on the real 4-worker runs
(:mod:`bench.capacity_validation`): the worker's own time per request beyond the SDK calls (Celery, the
manager), the broker's hand-off when a worker must ask for its next message (prefetch 1), the client's round trip
(publish, result) and the workers' start-up.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from mt5_worker.fleet.load import LoadReport
from mt5_worker.fleet.registry import Membership
from mt5_worker.fleet.routing import TERMINAL_QUEUE_PREFIX, AffinityRouter, terminal_queue_name
from mt5_worker.settings import RoutingMode
from mt5_worker.worker.batching import batch_order


@dataclass(frozen=True)
class Costs:
    """Seconds. ``login`` and ``call`` are the terminal's (the simulator's latency profile, or a real terminal's);
    the rest the service's own, calibrated."""

    login: float  # one SDK login(): the terminal switches account
    call: float  # the request's own SDK call(s)
    overhead: float  # the worker's own time per request (Celery, result, events, the manager)
    handoff: float  # broker -> worker, for a worker that asks for its next message only when done (prefetch 1)
    order_call: float = 0.02  # an order_send's (a round trip to the trade server)
    spread: float = 0.0  # the overhead's coefficient of variation (gamma-distributed, mean ``overhead``); 0: constant
    client: float = 0.0  # the client's part of a request's latency: publishing, the result's way back
    startup: float = 0.0  # workers started -> first request taken (process start, initialize())


@dataclass(frozen=True)
class Fleet:
    workers: int
    window: int = 50  # MT5_BATCH_WINDOW (1: FIFO, prefetch 1)
    max_delay: float = 0.1  # MT5_BATCH_MAX_DELAY
    # "shared" (round-robin), "affinity" (rendezvous), "bounded" (rendezvous + load), "adaptive" (rendezvous within
    # the load bound, the shared queue past it)
    routing: str = "bounded"
    load_factor: float = 0.1
    load_floor: int = 10
    report_interval: float = 0.5
    cache_seconds: float = 1.0
    reports: bool = True  # False: the router counts its own sends only (a backlog published before workers start)

    @property
    def prefetch(self) -> int:
        return 1 if self.window == 1 else 2 * self.window

    def terminal_ids(self) -> list[str]:
        return [f"bench-{i}" for i in range(self.workers)]


@dataclass
class Result:
    latencies: list[float]  # per request, arrival order (client's round trip included)
    done: list[float]  # per request, when its terminal finished it
    logins: int
    served: dict[str, int]
    finished: dict[str, float]  # per terminal, its last completion
    placed: list[str | None]

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def wall(self) -> float:
        return max(self.done)


@dataclass
class _Worker:
    tid: str
    queue: deque[int] = field(default_factory=deque)  # its own broker queue (request indexes)
    reserved: int = 0  # taken from the broker, not yet acknowledged (buffered, dispatched, running)
    fetching: bool = False
    buffer: list[int] = field(default_factory=list)
    timer: bool = False
    last: int | None = None  # the account dispatched last
    pool: deque[int] = field(default_factory=deque)  # dispatched, waiting for the terminal
    busy: bool = False
    account: int | None = None  # the account the terminal is logged in to
    logins: int = 0
    served: int = 0
    started: int = 0  # requests started since the last load report
    report_at: float = 0.0
    finished: float = 0.0


class _Registry:
    """What the model's router reads: every terminal live, with the last load report each made."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def read(self, now: float) -> Membership:
        return Membership(dict(self.model.capacities), {}, dict(self.model.latest))


class Model:
    """One run: ``accounts[i]`` arrives at ``arrivals[i]`` (seconds; all 0 for a backlog); ``orders[i]`` marks an
    order (``mt5.order_send``: its account's first choice, and ``order_call`` on the terminal)."""

    def __init__(
        self, fleet: Fleet, costs: Costs, arrivals: Sequence[float], accounts: Sequence[int],
        orders: Sequence[bool] = (), seed: int = 1,
    ) -> None:  # fmt: skip
        self.fleet, self.costs = fleet, costs
        self.arrivals, self.accounts = list(arrivals), list(accounts)
        self.orders = list(orders) or [False] * len(self.accounts)
        self.workers = {tid: _Worker(tid) for tid in fleet.terminal_ids()}
        self.capacities = dict.fromkeys(self.workers, 20)
        self.shared: deque[int] = deque()
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = itertools.count()
        self.turn = itertools.count()  # who is offered the shared queue first (offer_shared)
        self.now = 0.0
        self.done = [0.0] * len(self.accounts)
        self.placed: list[str | None] = [None] * len(self.accounts)
        self.latest: dict[str, LoadReport] = {}
        self.loaded = fleet.routing in ("bounded", "adaptive")  # the router reads load reports
        factor = fleet.load_factor if self.loaded else 0.0
        mode: RoutingMode = "adaptive" if fleet.routing == "adaptive" else "affinity"
        self.router = AffinityRouter(_Registry(self), fleet.cache_seconds, lambda: self.now, load_factor=factor,
                                     load_floor=fleet.load_floor, mode=mode)  # fmt: skip
        self.rng = random.Random(seed)

    def at(self, when: float, kind: str, data: object = None) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, data))

    def run(self) -> Result:
        start = self.costs.startup
        for w in self.workers.values():
            self.at(start, "start", w)
            if self.loaded and self.fleet.reports:
                self.at(start + self.rng.uniform(0, self.fleet.report_interval), "report", w)
        if self.loaded:  # announced idle before any traffic, as a fresh fleet reports itself
            self.latest = {tid: LoadReport(0, 0.0, -1e-9) for tid in self.workers}  # (its clock starts at 0)
        for i, t in enumerate(self.arrivals):
            self.at(t, "arrive", i)
        remaining = len(self.accounts)
        while self.events and remaining:
            now, _, kind, data = heapq.heappop(self.events)
            self.now = now
            if kind == "arrive":
                self.arrive(now, data)  # type: ignore[arg-type]
            elif kind == "fetched":
                w, i = data  # type: ignore[misc]
                w.fetching = False
                self.reserve(now, w, i)
                self.fetch(now, w)
            elif kind == "done":
                w, i = data  # type: ignore[misc]
                remaining -= 1
                self.complete(now, w, i)
            elif kind == "tick":
                self.tick(now, data)  # type: ignore[arg-type]
            elif kind == "report":
                self.report(now, data)  # type: ignore[arg-type]
            elif kind == "start":
                data.report_at = now  # type: ignore[attr-defined]
                self.fetch(now, data)  # type: ignore[arg-type]
        latencies = [d - a + self.costs.client for d, a in zip(self.done, self.arrivals, strict=True)]
        ws = self.workers.values()
        return Result(latencies, self.done, sum(w.logins for w in ws), {w.tid: w.served for w in ws},
                      {w.tid: w.finished for w in ws if w.served}, self.placed)  # fmt: skip

    # --- routing ----------------------------------------------------------------------------------------------

    def arrive(self, now: float, i: int) -> None:
        queue = (
            None if self.fleet.routing == "shared" else self.router.queue_for(self.accounts[i], ordered=self.orders[i])
        )
        if queue is None:
            self.shared.append(i)
            self.offer_shared(now)
            return
        tid = self.placed[i] = queue.removeprefix(TERMINAL_QUEUE_PREFIX)
        w = self.workers[tid]
        w.queue.append(i)
        self.fetch(now, w)

    def report(self, now: float, w: _Worker) -> None:
        """The worker's load report: its queue plus what it reserved, and its start rate since the last one."""
        elapsed = now - w.report_at
        rate = w.started / elapsed if elapsed > 0 else 0.0
        self.latest[w.tid] = LoadReport(len(w.queue) + w.reserved, rate, now)
        w.started, w.report_at = 0, now
        self.at(now + self.fleet.report_interval, "report", w)

    # --- a worker: prefetch, batching, the terminal -----------------------------------------------------------

    def fetch(self, now: float, w: _Worker) -> None:
        """Take the next message if the prefetch allows: one broker round trip each, one at a time."""
        if w.fetching or w.reserved >= self.fleet.prefetch or now < self.costs.startup:
            return
        source = w.queue if w.queue else self.shared
        if not source:
            return
        w.fetching = True
        w.reserved += 1
        self.at(now + self.costs.handoff, "fetched", (w, source.popleft()))

    def reserve(self, now: float, w: _Worker, i: int) -> None:
        """A message reaches the worker: the batcher's ``add`` (or straight to the terminal, FIFO)."""
        if self.fleet.window == 1 or (not w.buffer and w.reserved <= 1):
            if self.fleet.window > 1:
                w.last = self.accounts[i]
            self.dispatch(now, w, [i])
            return
        w.buffer.append(i)
        if not w.timer:
            w.timer = True
            self.at(now + self.fleet.max_delay, "tick", w)
        if len(w.buffer) >= self.fleet.window:
            self.flush(now, w)

    def tick(self, now: float, w: _Worker) -> None:
        w.timer = False
        if not w.buffer:
            return
        if w.reserved > len(w.buffer):  # the terminal still has work: look again later
            w.timer = True
            self.at(now + self.fleet.max_delay, "tick", w)
            return
        self.flush(now, w)

    def flush(self, now: float, w: _Worker) -> None:
        batch, w.buffer = w.buffer, []
        ordered = batch_order(batch, lambda i: self.accounts[i], first=w.last)
        w.last = self.accounts[ordered[-1]]
        self.dispatch(now, w, ordered)

    def dispatch(self, now: float, w: _Worker, requests: list[int]) -> None:
        w.pool.extend(requests)
        self.serve(now, w)

    def serve(self, now: float, w: _Worker) -> None:
        if w.busy or not w.pool:
            return
        i = w.pool.popleft()
        login = self.accounts[i]
        duration = self._overhead() + (self.costs.order_call if self.orders[i] else self.costs.call)
        if login != w.account:
            duration += self.costs.login
            w.logins += 1
            w.account = login
        w.busy = True
        w.started += 1
        self.at(now + duration, "done", (w, i))

    def _overhead(self) -> float:
        mean, cv = self.costs.overhead, self.costs.spread
        if cv <= 0 or mean <= 0:
            return mean
        shape = 1 / cv**2
        return self.rng.gammavariate(shape, mean / shape)

    def complete(self, now: float, w: _Worker, i: int) -> None:
        self.done[i] = now
        tid = self.placed[i]
        if tid is not None:  # the client waits for it: its router hears
            self.router.answered(terminal_queue_name(tid), ordered=self.orders[i])
        w.busy = False
        w.served += 1
        w.finished = now
        w.reserved -= 1
        if self.fleet.window > 1 and w.buffer and w.reserved <= len(w.buffer):  # nothing else to do: go
            self.flush(now, w)
        self.serve(now, w)
        self.fetch(now, w)
        if self.shared:
            self.offer_shared(now)

    def offer_shared(self, now: float) -> None:
        """The shared queue's messages to the workers with room, in turn: Redis hands a pushed message to the
        client blocked on it longest, so a worker that just took one is the last to be offered the next (a fixed
        order would let the first worker reserve its whole prefetch while the others idle)."""
        workers = list(self.workers.values())
        start = next(self.turn) % len(workers)
        for w in workers[start:] + workers[:start]:
            self.fetch(now, w)


def simulate(
    fleet: Fleet, costs: Costs, arrivals: Sequence[float], accounts: Sequence[int], orders: Sequence[bool] = (),
    seed: int = 1,
) -> Result:  # fmt: skip
    return Model(fleet, costs, arrivals, accounts, orders, seed).run()
