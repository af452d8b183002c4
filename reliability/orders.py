"""Orders as a trading caller sends them, and the judgement of a run against the trade server's own record: what
``reliability/trade_kill`` shares between its scenarios.

A caller sends ``mt5.order_send`` with its own idempotency key; a request with no answer by its deadline, or
answered "outcome unknown", is sent again with the same key until it has an answer. The simulator's trade store,
which every simulated terminal of the server shares and which outlives workers, bridges and Redis, is the judge:
for each key, the orders it accepted carrying the key's tag. The trade events stream of each account
(``mt5:trades:<login>``) is read back and counted per key.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from celery.exceptions import TimeoutError as CeleryTimeout

from mt5_worker.errors import MT5Error, OrderOutcomeUnknownError
from mt5_worker.manager.order_intents import ACCEPTED, tag_of
from mt5_worker.streams.keys import trades_key
from reliability.processes import Fleet, sleep_until

ORDER = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}


@dataclass
class Order:
    login: int
    key: str
    password: str
    server: str
    answers: list[dict[str, Any]] = field(default_factory=list)  # every answer with a retcode, in order
    errors: Counter[str] = field(default_factory=Counter)  # what the attempts without an answer ended with
    attempts: int = 0

    @property
    def final(self) -> dict[str, Any] | None:
        return self.answers[-1] if self.answers else None


def submit(fleet: Fleet, order: Order, expires: float) -> Any:
    kwargs = {"login": order.login, "request": ORDER, "idempotency_key": order.key, "password": order.password,
              "server": order.server}  # fmt: skip
    order.attempts += 1
    return fleet.client.submit("mt5.order_send", kwargs, expires=expires)


def settle(fleet: Fleet, order: Order, pending: Any, timeout: float) -> None:
    """Wait for one attempt's answer; record it, or what the attempt ended with."""
    try:
        order.answers.append(pending.get(timeout=timeout))
    except OrderOutcomeUnknownError:
        order.errors["outcome unknown"] += 1
    except MT5Error as exc:
        order.errors[f"{type(exc).__name__} {exc.code}"] += 1
    except CeleryTimeout:
        order.errors["no answer in time"] += 1
    except Exception as exc:  # a worker lost mid-task, a time limit: the caller's view
        order.errors[type(exc).__name__] += 1
    finally:
        pending.backend.remove_pending_result(pending)


def send_paced(fleet: Fleet, orders: Sequence[Order], rate: float, deadline: float, started: float) -> Counter[str]:
    """Send each order once, ``rate`` a second from ``started``, then wait for their answers: what the first round
    ended with."""
    sent = []
    for i, order in enumerate(orders):
        sleep_until(started + i / rate)
        sent.append((order, submit(fleet, order, deadline)))
    first_round: Counter[str] = Counter()
    for order, pending in sent:
        settle(fleet, order, pending, max(1.0, deadline - (time.time() - started)))
        first_round["answered" if order.answers else next(iter(order.errors))] += 1
    return first_round


def resend_unanswered(fleet: Fleet, orders: Iterable[Order], deadline: float, rounds: int = 10) -> None:
    """The caller's reaction to no answer: the same request with the same key, until each has one."""
    for _ in range(rounds):
        todo = [o for o in orders if o.final is None]
        if not todo:
            return
        for order in todo:
            settle(fleet, order, submit(fleet, order, deadline), deadline)


def resend_all(fleet: Fleet, orders: Iterable[Order], deadline: float) -> None:
    """Every key sent once more, answered or not (a caller that lost track): each must answer what happened."""
    for order in orders:
        settle(fleet, order, submit(fleet, order, deadline), deadline)


@dataclass
class Judgement:
    """The run against the trade server's record (``executed``: accepted executions per request comment)."""

    duplicates: int = 0  # keys the server executed more than once
    lost: int = 0  # keys without any answer
    mismatched: int = 0  # keys whose final answer disagrees with the server (done but not executed, or the reverse)
    answered_again: int = 0  # keys whose answers named different deals
    executed: int = 0  # keys the server executed (at least once)
    sources: Counter[str] = field(default_factory=Counter)
    retcodes: Counter[int] = field(default_factory=Counter)


def judge(orders: Sequence[Order], executed: Counter[str]) -> Judgement:
    j = Judgement()
    for o in orders:
        count = executed.get(tag_of(o.login, o.key), 0)
        j.duplicates += count > 1
        j.executed += min(1, count)
        final = o.final
        if final is None:
            j.lost += 1
            continue
        j.sources.update(a["source"] for a in o.answers)
        j.retcodes[int(final["retcode"])] += 1
        j.mismatched += (int(final["retcode"]) in ACCEPTED) != (count == 1)
        j.answered_again += len({a.get("deal") for a in o.answers}) > 1
    return j


def trade_events(client: redis.Redis, logins: Iterable[int]) -> Counter[tuple[int, str]]:
    """How many trade events each ``(login, idempotency key)`` has in its account's stream."""
    counts: Counter[tuple[int, str]] = Counter()
    for login in sorted(set(logins)):
        for _, fields in client.xrange(trades_key(login)) or []:
            if not fields:
                continue
            key = fields[b"idempotency_key"] if b"idempotency_key" in fields else fields["idempotency_key"]
            counts[(login, key.decode() if isinstance(key, bytes) else key)] += 1
    return counts


def events_not_once(orders: Sequence[Order], events: Counter[tuple[int, str]]) -> int:
    """Answered keys whose outcome is not in their account's stream exactly once (and events of no such key)."""
    answered = {(o.login, o.key) for o in orders if o.final is not None}
    return sum(events.get(k, 0) != 1 for k in answered) + sum(1 for k in events if k not in answered)
