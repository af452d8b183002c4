"""Exactly-once order sending: the idempotency records (:mod:`~mt5_worker.fleet.order_journal`) around the
terminal's :class:`~mt5_worker.manager.trading.Trader`.

For one key, :meth:`OrderDesk.send`:

1. claims the key in Redis (atomic). A key already done answers its recorded outcome; a key naming another
   request is refused; a key a live worker is still sending is "in progress" (retry later);
2. after a takeover (the same task redelivered, or an owner that died or ran out of lease) *reconciles* first:
   finds the execution in the account (reported as found) or proves none happened;
3. only then calls ``order_send``, once, and records the outcome. A failure after the request may have left keeps
   the claim pending, so the next attempt reconciles; a refusal before anything left releases it.

Every request and outcome leaves one audit log line (``mt5.trade.request`` / ``mt5.trade.outcome``).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from mt5_worker.errors import IdempotencyConflictError, OrderOutcomeUnknownError, TransientMT5Error
from mt5_worker.fleet.order_journal import OrderJournal
from mt5_worker.logging import get_logger
from mt5_worker.manager.order_intents import OrderIntent
from mt5_worker.manager.trading import Trader

log = get_logger("mt5_worker.audit")


class OrderDesk:
    """Sends orders at most once per (account, idempotency key); see the module doc."""

    def __init__(self, trader: Trader, journal: OrderJournal, worker_id: str) -> None:
        self.trader = trader
        self.journal = journal
        self.worker_id = worker_id

    def send(self, intent: OrderIntent, task_id: str, *, password: Any = None, server: Any = None,
             attempt: int = 1) -> dict[str, Any]:  # fmt: skip
        """The order's result: ``OrderSendResult`` fields plus ``idempotency_key`` and ``source``: ``sent`` (this
        call sent it), ``recorded`` (an earlier call's outcome) or ``reconciled`` (found in the account)."""
        log.info("mt5.trade.request", **intent.audit(), attempt=attempt, worker_id=self.worker_id)
        account = {"password": password, "server": server, "attempt": attempt}
        state = self._claim(intent, task_id, attempt)
        if state == "done":
            return self._recorded(intent, attempt)
        if state == "busy":
            raise OrderOutcomeUnknownError(
                f"order {intent.key!r} of account {intent.login} is being sent by another worker; its outcome will "
                "be recorded: retry, or read it with order_result",
                attempts=attempt,
            )
        if state == "reconcile":
            found = self.trader.find(intent, self._claimed_at(intent), **account)
            if found is not None:
                return self._complete(intent, found, "reconciled")
        try:
            result = self.trader.send(intent, **account)
        except OrderOutcomeUnknownError as exc:
            log.warning("mt5.trade.outcome", **intent.audit(), outcome="unknown", mt5_code=exc.code, attempts=attempt)
            raise
        except Exception:
            self.journal.release(intent.login, intent.key, task_id)  # refused before anything left: the key is free
            raise
        return self._complete(intent, result, "sent")

    def result(self, login: int, key: str) -> dict[str, Any] | None:
        """The key's record (``state`` pending or done, and the outcome), or ``None`` for a key never seen."""
        found = self.journal.read(login, key)
        return None if found is None else found.as_dict()

    def _claim(self, intent: OrderIntent, task_id: str, attempt: int) -> str:
        try:
            state = self.journal.claim(intent.login, intent.key, intent.fingerprint, self.worker_id, task_id)
        except redis.RedisError as exc:  # nothing was sent: an ordinary transient failure
            raise TransientMT5Error(f"order records unavailable (Redis: {type(exc).__name__}); nothing sent",
                                    attempts=attempt) from None  # fmt: skip
        if state == "conflict":
            raise IdempotencyConflictError(
                f"idempotency_key {intent.key!r} of account {intent.login} already names a different order request: "
                "use a new key for each order",
                attempts=attempt,
            )
        return state

    def _claimed_at(self, intent: OrderIntent) -> float:
        found = self.journal.read(intent.login, intent.key)
        return found.claimed_at if found is not None else time.time()

    def _recorded(self, intent: OrderIntent, attempt: int) -> dict[str, Any]:
        found = self.journal.read(intent.login, intent.key)
        if found is None or found.outcome is None:  # expired between the claim and the read: ask again
            raise TransientMT5Error(f"order {intent.key!r}: record changed while read; retry", attempts=attempt)
        answer = found.outcome | {"source": "recorded"}
        log.info("mt5.trade.outcome", **(intent.audit() | _summary(answer)))
        return answer

    def _complete(self, intent: OrderIntent, result: dict[str, Any], source: str) -> dict[str, Any]:
        outcome = result | {"idempotency_key": intent.key, "login": intent.login}
        try:
            first = self.journal.complete(intent.login, intent.key, outcome | {"source": source})
        except redis.RedisError as exc:
            # The outcome is known here; the record stays pending, and the next reader reconciles it.
            log.error("mt5.trade.record_failed", **intent.audit(), error=type(exc).__name__)
            first = True
        if not first:  # another worker recorded it meanwhile (it reconciled our execution): one outcome only
            return self._recorded(intent, 1)
        answer = outcome | {"source": source}
        log.info("mt5.trade.outcome", **(intent.audit() | _summary(answer)))
        return answer


def _summary(answer: dict[str, Any]) -> dict[str, Any]:
    """The outcome's audit fields (``ticket`` is the order's ticket: ``order`` is the request's field)."""
    names = {"retcode": "retcode", "deal": "deal", "ticket": "order", "filled_volume": "volume", "fill_price": "price",
             "source": "source"}  # fmt: skip
    return {name: answer.get(field) for name, field in names.items()}
