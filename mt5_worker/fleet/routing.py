"""Account-affinity routing: every account's requests go to one terminal, chosen by rendezvous hashing.

Rendezvous (highest-random-weight) hashing: each live worker gets a pseudo-random score per account, weighted
by its capacity; the highest score wins. Every client computes the same answer from the same membership, no
coordination needed, and when a worker joins or leaves only the accounts it wins or held move (about 1/N).

Bounded load (``MT5_ROUTING_LOAD_FACTOR`` = e > 0): hashing alone puts each hot account of a skewed workload on
one terminal, which then sets the fleet's pace. So a request goes to the first worker in its account's own
ranking (the scores, highest first) whose backlog, counting this request, stays within (1 + e) x its share of
the fleet's (the mean, for equal capacities; rounded up), or within ``MT5_ROUTING_LOAD_FLOOR`` requests. While
loads are fair every account stays on its first choice; an overloaded terminal's accounts spill to their own
next choice, each its own, so a spilled account still lands on one terminal rather than everywhere. Backlogs
come from :mod:`mt5_worker.fleet.load` (the workers' reports plus this router's own sends).

:class:`AffinityRouter` is also a Celery router (``task_routes`` in ``celeryconfig``): the account tasks (``mt5.login``,
``mt5.account_info``, the reads, ``mt5.order_send``) sent without an explicit queue go to
``mt5.terminal.<terminal_id>`` of the chosen worker, or to the shared ``mt5`` queue when no worker is registered (or
Redis cannot be read).

``MT5_ROUTING=shared`` sends every request but the ordered ones (orders) to the shared queue instead: every worker
takes from it and groups what it reserved by account. Lower latency when few accounts are spread over the fleet,
more logins when many are (P5 in docs/performance.md; docs/operations.md says which suits which traffic).

``MT5_ROUTING=adaptive`` is affinity while it is cheap and the shared queue when it is not: a request goes to its
account's first choice while that terminal's backlog, with this request, is within the same bound as bounded
load's (so while loads are fair, each account stays on one terminal and its pool), and otherwise to the shared
queue, where whichever worker has room reserves it and batches it with what it reserved from its own queue. A
hot account's overflow is then spread over the fleet instead of queued behind its next choice's own accounts.
Those sends count in the fleet's backlog until the workers have reported them (:mod:`mt5_worker.fleet.load`).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, get_args

import redis

from mt5_worker.fleet.load import LoadView
from mt5_worker.fleet.ranking import RankingCache
from mt5_worker.fleet.registry import Membership, WorkerRegistry
from mt5_worker.fleet.sessions import REDIS_DOWN, connect
from mt5_worker.logging import get_logger
from mt5_worker.settings import RoutingMode, Settings
from mt5_worker.task_specs import TASKS, Routing

TERMINAL_QUEUE_PREFIX = "mt5.terminal."
# The account tasks (the task table's): each names a login, so it goes to the terminal that account sticks to.
ROUTED_TASKS = frozenset(task.name for task in TASKS if task.routing is Routing.ACCOUNT)
# Tasks whose order per account matters (a trading desk's orders): always the account's first choice, never
# spilled by load, so that two sent without waiting run on one terminal, in the order sent.
ORDERED_TASKS = frozenset(task.name for task in TASKS if task.ordered)
ROUTING_MODES: tuple[RoutingMode, ...] = get_args(RoutingMode)

log = get_logger("mt5_worker.fleet.routing")


def terminal_queue_name(terminal_id: str) -> str:
    """The queue only the worker owning terminal ``terminal_id`` consumes."""
    return f"{TERMINAL_QUEUE_PREFIX}{terminal_id}"


def rendezvous_score(terminal_id: str, login: int, weight: int = 1) -> float:
    """Weighted HRW score: ``-w / ln(u)`` with ``u`` uniform in (0, 1), so a worker of twice the capacity
    wins twice as many accounts."""
    digest = hashlib.blake2b(f"{terminal_id}\x00{login}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)  # strictly inside (0, 1)
    return -weight / math.log(u)


def choose(login: int, workers: Mapping[str, int]) -> str | None:
    """The worker (terminal id) ``login`` belongs to among ``workers`` (id -> capacity); None if none."""
    if not workers:
        return None
    return max(workers, key=lambda tid: (rendezvous_score(tid, login, workers[tid]), tid))


def ranking(login: int, workers: Mapping[str, int]) -> list[str]:
    """``workers`` in ``login``'s order of preference: its first choice (:func:`choose`) first."""
    return sorted(workers, key=lambda tid: (rendezvous_score(tid, login, workers[tid]), tid), reverse=True)


def load_bounds(workers: Mapping[str, int], backlogs: Mapping[str, int], factor: float, floor: int) -> dict[str, int]:
    """The most requests each worker may hold, the next one included: (1 + ``factor``) x its capacity's share of
    the fleet's backlog plus that request, rounded up, and never below ``floor``.

    Rounding up makes the bounds add up to more than the backlog plus one, so with integer backlogs some worker
    is always within its bound: a request is never refused, and never sent outside ``workers``."""
    total = sum(backlogs.get(tid, 0) for tid in workers) + 1
    weight = sum(workers.values())
    return {tid: load_bound(total, capacity, weight, factor, floor) for tid, capacity in workers.items()}


def load_bound(total: int, capacity: int, weight: int, factor: float, floor: int) -> int:
    """One worker's bound (:func:`load_bounds`): ``total`` = the fleet's backlog with the next request, ``weight``
    = the fleet's capacity."""
    # The epsilon keeps a bound that is an exact integer from rounding up past itself on float error.
    return max(floor, math.ceil((1 + factor) * total * capacity / weight - 1e-9))


def choose_bounded(
    login: int, workers: Mapping[str, int], backlogs: Mapping[str, int], factor: float, floor: int = 0
) -> str | None:
    """The first worker in ``login``'s :func:`ranking` whose backlog (``backlogs``: requests waiting or running;
    missing = 0), with this request, stays within its bound (:func:`load_bounds`); None if ``workers`` is
    empty."""
    if factor < 0 or floor < 0:
        raise ValueError(f"load factor and floor must be >= 0, got {factor} and {floor}")
    order = ranking(login, workers)
    bounds = load_bounds(workers, backlogs, factor, floor)
    for tid in order:
        if backlogs.get(tid, 0) + 1 <= bounds[tid]:
            return tid
    return order[0] if order else None  # not reached with integer backlogs (see load_bounds)


def login_of(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> int | None:
    """The account a task message is for, if it names a valid one (bad input is left to the worker)."""
    login = (kwargs or {}).get("login", args[0] if args else None)
    return login if isinstance(login, int) and not isinstance(login, bool) else None


class MembershipSource(Protocol):
    """What a router reads the fleet from: a :class:`~mt5_worker.fleet.registry.WorkerRegistry`, or a model's."""

    def read(self, now: float) -> Membership: ...


class AffinityRouter:
    """Maps accounts to terminal queues from a cached reading of the registry (one Redis read a second).

    ``load_factor`` > 0 bounds each terminal's load (see the module doc); 0 is plain rendezvous hashing. A send
    costs about the same at 10 workers as at 10,000: the top of each account's ranking is cached across readings
    (:class:`~mt5_worker.fleet.ranking.RankingCache`), and the fleet's backlog is summed only when the account's
    terminal is past the floor, over arrays (:meth:`~mt5_worker.fleet.load.LoadView.total`). The choices are those
    of :func:`choose` and :func:`choose_bounded` over :meth:`backlogs`."""

    def __init__(
        self,
        registry: MembershipSource,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        *,
        load_factor: float = 0.0,
        load_floor: int = 0,
        mode: RoutingMode = "affinity",
    ) -> None:
        if load_factor < 0 or load_floor < 0:
            raise ValueError(f"load factor and floor must be >= 0, got {load_factor} and {load_floor}")
        if mode not in ROUTING_MODES:
            raise ValueError(f"routing must be one of {', '.join(ROUTING_MODES)}, got {mode!r}")
        self.registry = registry
        self.cache_seconds = cache_seconds
        self.load_factor = load_factor
        self.load_floor = load_floor
        self.mode = mode  # MT5_ROUTING (see the module doc)
        self._clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}
        self._weight = 0  # the live workers' total capacity
        self._loads = LoadView()
        self._rankings = RankingCache(rendezvous_score)
        self.full_rankings = 0  # rankings deepened: sends that looked past the cached top of their account's ranking
        self._read_at = -math.inf

    def live(self) -> dict[str, int]:
        """Live workers (terminal id -> capacity); the last good reading while Redis is unreachable."""
        now = self._clock()
        with self._lock:
            return dict(self._reading(now))

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> AffinityRouter:
        """A router on the registry in ``MT5_SESSIONS_REDIS_URL`` (or ``client``), configured by ``settings``."""
        registry = WorkerRegistry(client if client is not None else connect(settings.session_store_url))
        return cls(registry, settings.routing_cache_seconds, load_factor=settings.routing_load_factor,
                   load_floor=settings.routing_load_floor, mode=settings.routing)  # fmt: skip

    def refresh(self) -> None:
        with self._lock:
            self._read_at = -math.inf

    def backlogs(self) -> dict[str, int]:
        """Each live worker's backlog as this router estimates it now (see :mod:`mt5_worker.fleet.load`)."""
        now = self._clock()
        with self._lock:
            return self._loads.estimates(self._reading(now), now)

    def queue_for(self, login: int, *, ordered: bool = False) -> str | None:
        """The queue of the worker ``login``'s next request goes to (counted as sent there); None: the shared
        queue, when no worker is live, routing is ``shared``, or it is ``adaptive`` and the account's terminal is
        past its bound. ``ordered``: the account's first choice whatever the loads and the routing (see
        :data:`ORDERED_TASKS`)."""
        if self.mode == "shared" and not ordered:
            return None
        now = self._clock()
        with self._lock:
            self._reading(now)
            if not self._counts(ordered):
                terminal_id = self._rankings.first(login)
            else:
                terminal_id = self._adaptive(login, now) if self.mode == "adaptive" else self._bounded(login, now)
                if terminal_id is not None:
                    self._loads.sent(terminal_id, now)
        return terminal_queue_name(terminal_id) if terminal_id else None

    def answered(self, queue: str | None, *, ordered: bool = False) -> None:
        """A request this router sent to ``queue`` (what :meth:`queue_for` returned, with the same ``ordered``) has
        been answered, so it no longer waits there (:meth:`LoadView.answered`). Clients that wait for their results
        call it; a shared-queue send, or one :meth:`queue_for` did not count, needs nothing."""
        if queue is None or not queue.startswith(TERMINAL_QUEUE_PREFIX) or not self._counts(ordered):
            return
        now = self._clock()
        with self._lock:
            self._loads.answered(queue.removeprefix(TERMINAL_QUEUE_PREFIX), now)

    def _counts(self, ordered: bool) -> bool:
        """Whether a send (and so its answer) counts in the loads: not an ordered one (always its first choice),
        nor any under plain affinity, which reads no loads."""
        return not ordered and not (self.load_factor <= 0 and self.mode == "affinity")

    def _bounded(self, login: int, now: float) -> str | None:
        """:func:`choose_bounded` over this router's estimates, looking at the fewest workers it can. Lock held."""
        total: int | None = None  # the fleet's backlog with this request: summed once, and only past the floor
        for terminal_id in self._candidates(login):
            fits, total = self._within_bound(terminal_id, now, total)
            if fits:
                return terminal_id
        return self._rankings.first(login)  # not reached with integer backlogs (see load_bounds)

    def _adaptive(self, login: int, now: float) -> str | None:
        """``login``'s first choice while within its bound; else None, the shared queue (counted as sent there).
        Lock held."""
        terminal_id = self._rankings.first(login)
        if terminal_id is None or self._within_bound(terminal_id, now)[0]:
            return terminal_id
        self._loads.sent_shared(now)
        return None

    def _within_bound(self, terminal_id: str, now: float, total: int | None = None) -> tuple[bool, int | None]:
        """Whether ``terminal_id``'s backlog with one more request is within its bound (:func:`load_bound`), and the
        fleet's backlog with that request (``total``, when the caller has it already; summed here only past the
        floor, where it matters). Lock held."""
        backlog = self._loads.estimate(terminal_id, now)
        if backlog + 1 <= self.load_floor:
            return True, total
        if total is None:
            total = self._loads.total(self._live, now) + 1
        bound = load_bound(total, self._live[terminal_id], self._weight, self.load_factor, self.load_floor)
        return backlog + 1 <= bound, total

    def _candidates(self, login: int) -> Iterator[str]:
        """``login``'s ranking, lazily: the cached top first, then (rarely needed) a deeper one, cached in its place."""
        prefix = self._rankings.prefix(login)
        yield from prefix
        while len(prefix) < len(self._live):
            self.full_rankings += 1
            seen, prefix = len(prefix), self._rankings.deeper(login)
            yield from prefix[seen:]

    def _reading(self, now: float) -> dict[str, int]:
        """The cached membership, read again (with the load reports) once it is ``cache_seconds`` old. Lock held."""
        if now - self._read_at >= self.cache_seconds:
            try:
                membership = self.registry.read(now)
            except REDIS_DOWN as exc:
                log.warning("mt5.routing.redis_unavailable", error=str(exc), known_workers=len(self._live))
            else:
                self._live = membership.live
                self._weight = sum(self._live.values())
                self._loads.update(membership.loads)
                self._rankings.update(self._live)
            self._read_at = now
        return self._live

    def __call__(
        self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], options: Mapping[str, Any], **_: Any
    ) -> dict[str, Any] | None:
        # Celery asks the routers even when the sender named a queue (and then lets the sender win): skip the
        # work, which is every MT5Client send.
        if name not in ROUTED_TASKS or options.get("queue"):
            return None
        login = login_of(args, kwargs)
        queue = self.queue_for(login, ordered=name in ORDERED_TASKS) if login is not None else None
        return {"queue": queue} if queue else None
