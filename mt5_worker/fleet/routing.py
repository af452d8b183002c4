"""Account-affinity routing: every account's requests go to one terminal, chosen by rendezvous hashing.

Rendezvous (highest-random-weight) hashing: each live worker gets a pseudo-random score per account, weighted
by its capacity; the highest score wins. Every client computes the same answer from the same membership, no
coordination needed, and when a worker joins or leaves only the accounts it wins or held move (about 1/N).

:class:`AffinityRouter` is also a Celery router (``task_routes`` in ``celeryconfig``): ``mt5.account_info`` and
``mt5.login`` sent without an explicit queue go to ``mt5.terminal.<terminal_id>`` of the chosen worker, or to
the shared ``mt5`` queue when no worker is registered (or Redis cannot be read).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mt5_worker.fleet.registry import WorkerRegistry
from mt5_worker.fleet.sessions import REDIS_DOWN, connect
from mt5_worker.logging import get_logger
from mt5_worker.settings import Settings

TERMINAL_QUEUE_PREFIX = "mt5.terminal."
# The account tasks: each names a login, so it goes to the terminal that account sticks to.
ROUTED_TASKS = frozenset(
    {"mt5.account_info", "mt5.login", "mt5.symbols", "mt5.symbol_info", "mt5.symbol_tick", "mt5.rates", "mt5.ticks",
     "mt5.market_book", "mt5.positions", "mt5.orders", "mt5.history_deals", "mt5.history_orders",
     "mt5.order_calc_margin", "mt5.order_calc_profit", "mt5.order_check", "mt5.order_send"}
)  # fmt: skip

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


def login_of(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> int | None:
    """The account a task message is for, if it names a valid one (bad input is left to the worker)."""
    login = (kwargs or {}).get("login", args[0] if args else None)
    return login if isinstance(login, int) and not isinstance(login, bool) else None


class AffinityRouter:
    """Maps accounts to terminal queues from a cached reading of the registry (one Redis read a second)."""

    def __init__(
        self, registry: WorkerRegistry, cache_seconds: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}
        self._read_at = -math.inf

    def live(self) -> dict[str, int]:
        """Live workers (terminal id -> capacity); the last good reading while Redis is unreachable."""
        now = self._clock()
        with self._lock:
            if now - self._read_at >= self.cache_seconds:
                try:
                    self._live = self.registry.read(now).live
                except REDIS_DOWN as exc:
                    log.warning("mt5.routing.redis_unavailable", error=str(exc), known_workers=len(self._live))
                self._read_at = now
            return dict(self._live)

    @classmethod
    def from_settings(cls, settings: Settings) -> AffinityRouter:
        return cls(WorkerRegistry(connect(settings.session_store_url)), settings.routing_cache_seconds)

    def refresh(self) -> None:
        with self._lock:
            self._read_at = -math.inf

    def queue_for(self, login: int) -> str | None:
        terminal_id = choose(login, self.live())
        return terminal_queue_name(terminal_id) if terminal_id else None

    def __call__(
        self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], options: Mapping[str, Any], **_: Any
    ) -> dict[str, Any] | None:
        # Celery asks the routers even when the sender named a queue (and then lets the sender win): skip the
        # work, which is every MT5Client send.
        if name not in ROUTED_TASKS or options.get("queue"):
            return None
        login = login_of(args, kwargs)
        queue = self.queue_for(login) if login is not None else None
        return {"queue": queue} if queue else None
