"""Exactly-once order sending: the idempotency records (:mod:`~mt5_worker.fleet.order_journal`) around the
terminal's :class:`~mt5_worker.manager.trading.Trader`.

For one key, :meth:`OrderDesk.send`:

1. claims the key in Redis (atomic). A key already done answers its recorded outcome; a key naming another
   request is refused; a key whose owner may still be sending is "in progress" (retry later);
2. after a takeover (the owner ended without an outcome, its lease ran out, or its process was replaced)
   *reconciles* first: finds the execution in the account (reported as found) or proves none happened, which
   takes ``MT5_TRADING_SETTLE`` seconds after the order last left (a terminal or bridge may still be executing
   a request whose sender is gone);
3. for a fresh key, searches the account for the key's tag over the last ``MT5_TRADING_PRESEND_WINDOW`` seconds
   first (the trade server is the record; Redis, the fast path, may have lost the key's record): an execution found
   is reported, not repeated. A process that saw Redis lose its records (the journal's epoch changed) also sends
   no fresh key for ``MT5_TRADING_SETTLE`` seconds after the loss: an order sent just before it may not be in the
   account yet;
4. only then, having confirmed it still owns the key, calls ``order_send`` once and records the outcome (which also
   appends it to the account's trade events stream, in the same step). A failure after the request may have left
   marks the key ``unknown``, so the next attempt reconciles; a refusal before anything left releases it.

:meth:`OrderDesk.close_positions` is a batch of closes under one key: the positions are fixed by its first
attempt, and each close is sent as above under its own derived key.

Every request and every outcome, refusals included, leaves one audit line (``mt5.trade.request`` /
``mt5.trade.outcome``) on the ``mt5_worker.audit`` logger.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from mt5_worker.errors import (
    IdempotencyConflictError,
    MT5Error,
    OrderOutcomeUnknownError,
    RecordsLostError,
    TransientMT5Error,
)
from mt5_worker.fleet.order_journal import Attempt, OrderJournal
from mt5_worker.logging import get_logger
from mt5_worker.manager import desk_calls
from mt5_worker.manager.order_intents import OrderIntent
from mt5_worker.manager.trading import Trader

log = get_logger("mt5_worker.audit")
T = TypeVar("T")


class OwnershipLostError(TransientMT5Error):
    """The attempt's claim was taken over before the order left (its lease ran out): nothing was sent."""


class OrderDesk:
    """Sends orders at most once per (account, idempotency key); see the module doc. ``incarnation`` names this
    process among the worker's (a new one per process: announced before its first claim). ``presend_window``:
    how far back a fresh key's tag is searched for before its first send (``None``: not searched)."""

    def __init__(
        self, trader: Trader, journal: OrderJournal, worker_id: str, incarnation: str | None = None, *,
        settle: float = 60.0, presend_window: float | None = 86_400.0,
    ) -> None:  # fmt: skip
        self.trader = trader
        self.journal = journal
        self.worker_id = worker_id
        self.settle = settle  # MT5_TRADING_SETTLE: how long an order that left may take to show in the account
        self.presend_window = presend_window
        self.incarnation = incarnation or uuid.uuid4().hex
        self._announced = False
        self._epoch: str | None = None  # the journal's epoch this process first saw
        self._records_lost_at: float | None = None  # when (monotonic) Redis lost them, as this process noticed
        # Observers of each attempt's outcome (metrics): done, reconciled, recorded, refused, unknown, in_progress,
        # taken_over. Append to add one; each must be quick and never raise into the order's path.
        self.outcome_hooks: list[Callable[[str], None]] = []

    def send(self, intent: OrderIntent, task_id: str, *, password: Any = None, server: Any = None,
             attempt: int = 1) -> dict[str, Any]:  # fmt: skip
        """The order's result: ``OrderSendResult`` fields plus ``idempotency_key``, ``login`` and ``source``:
        ``sent`` (this call sent it), ``recorded`` (an earlier call's outcome) or ``reconciled`` (found in the
        account)."""
        audit = intent.audit()
        log.info("mt5.trade.request", **audit, attempt=attempt, worker_id=self.worker_id)
        me = Attempt(self.worker_id, self.incarnation, task_id, uuid.uuid4().hex)
        account = {"password": password, "server": server, "attempt": attempt}
        state = self._claim(intent, me, attempt)
        if state == "done":
            return self._recorded(intent, attempt)
        if state == "busy":
            self._outcome("in_progress")
            log.info("mt5.trade.outcome", **audit, outcome="in_progress")
            raise OrderOutcomeUnknownError(
                f"order {intent.key!r} of account {intent.login} is being sent by another attempt that may still "
                "send it; its outcome will be recorded: retry, or read it with order_result",
                attempts=attempt,
            )
        try:
            if state == "reconcile":
                found = self.trader.find(intent, self._claimed_at(intent, attempt), **account)
                if found is not None:
                    return self._complete(intent, found, "reconciled")
                self._settled(intent, attempt)
            fresh = state == "claimed" and self.presend_window is not None
            since = time.time() - self.presend_window if fresh and self.presend_window is not None else None
            source, result = self.trader.send_or_find(
                intent, before_send=lambda: self._before_send(intent, me, attempt), search_since=since, **account
            )
        except OwnershipLostError:
            self._outcome("taken_over")
            log.warning("mt5.trade.outcome", **audit, outcome="taken_over")
            raise
        except OrderOutcomeUnknownError as exc:
            self._quietly(lambda: self.journal.unknown(intent.login, intent.key, me), intent)
            self._outcome("unknown")
            log.warning("mt5.trade.outcome", **audit, outcome="unknown", mt5_code=exc.code, reason=exc.message)
            raise
        except MT5Error as exc:  # this attempt sent nothing
            if state == "claimed":  # and no attempt before it could have: the key is free again
                self._quietly(lambda: self.journal.release(intent.login, intent.key, me), intent)
            else:  # an earlier attempt may have sent it: the next one reconciles again
                self._quietly(lambda: self.journal.unknown(intent.login, intent.key, me), intent)
            self._outcome("refused")
            log.info("mt5.trade.outcome", **audit, outcome="refused", mt5_code=exc.code, reason=exc.message)
            raise
        except BaseException:  # interrupted (a soft time limit, a bug): whether it left is not known here
            self._quietly(lambda: self.journal.unknown(intent.login, intent.key, me), intent)
            self._outcome("unknown")
            log.warning("mt5.trade.outcome", **audit, outcome="unknown", reason="interrupted")
            raise
        return self._complete(intent, result, source)

    def close_positions(self, batch: desk_calls.Batch, task_id: str, *, password: Any = None, server: Any = None,
                        attempt: int = 1) -> dict[str, Any]:  # fmt: skip
        """Close the batch's positions, each at most once under its own key (``<batch key>/<ticket>``): the
        positions its first attempt found (later attempts close the same ones, never one opened since); each
        close's answer is ``order_send``'s."""
        account = {"password": password, "server": server, "attempt": attempt}
        found = self._redis(lambda: self.journal.planned(batch.login, batch.key), attempt)
        tickets = found[1] if found is not None and found[0] == batch.fingerprint else None
        if found is None:
            listed = self.trader.positions(batch.login, batch.selects, **account)
            tickets = self._redis(lambda: self.journal.plan(batch.login, batch.key, batch.fingerprint, listed),
                                  attempt)  # fmt: skip
        if tickets is None:
            raise IdempotencyConflictError(
                f"idempotency_key {batch.key!r} of account {batch.login} already names a different close_positions "
                "call: use a new key for each",
                attempts=attempt,
            )
        results = [self.send(desk_calls.close_position(batch.login, ticket, desk_calls.child_key(batch.key, ticket)),
                             task_id, **account) for ticket in tickets]  # fmt: skip
        return {"idempotency_key": batch.key, "login": batch.login, "positions": tickets, "results": results}

    def result(self, login: int, key: str) -> dict[str, Any] | None:
        """The key's record (``state`` pending, unknown or done, and the outcome), or ``None`` for a key never
        seen (or expired)."""
        found = self._redis(lambda: self.journal.read(login, key), 1)
        return None if found is None else found.as_dict()

    # --- internals ---

    def _outcome(self, outcome: str) -> None:
        for hook in self.outcome_hooks:
            try:
                hook(outcome)
            except Exception:  # an observer must never fail the order it watches
                log.exception("mt5.trade.outcome_hook_failed", outcome=outcome)

    def _claim(self, intent: OrderIntent, me: Attempt, attempt: int) -> str:
        def claim() -> str:
            if not self._announced:  # before this process's first claim: its predecessors' claims are stale now
                self.journal.announce(self.worker_id, self.incarnation)
                self._announced = True
            found = self.journal.claim_in_epoch(intent.login, intent.key, intent.fingerprint, me)
            if self._epoch is not None and found.epoch != self._epoch:
                self._records_lost_at = time.monotonic() - found.epoch_age
                log.error("mt5.trade.records_lost", login=intent.login, seconds_ago=round(found.epoch_age, 3),
                          worker_id=self.worker_id)  # fmt: skip
            self._epoch = found.epoch
            return found.state

        state = self._redis(claim, attempt, "; nothing sent")
        if state == "conflict":
            self._outcome("refused")
            log.info("mt5.trade.outcome", **intent.audit(), outcome="refused", reason="idempotency key conflict")
            raise IdempotencyConflictError(
                f"idempotency_key {intent.key!r} of account {intent.login} already names a different order request: "
                "use a new key for each order",
                attempts=attempt,
            )
        return state

    def _before_send(self, intent: OrderIntent, me: Attempt, attempt: int) -> None:
        """The last word before the order leaves: not while an order sent before a loss of the records may still be
        on its way; and only while this attempt still owns the key."""
        lost = self._records_lost_at
        if lost is not None and (ago := time.monotonic() - lost) < self.settle:
            raise RecordsLostError(
                f"order {intent.key!r} of account {intent.login}: Redis lost the order records (a restart without its "
                f"data, a flush; noticed {ago:.1f} s ago); an order sent just before may not show in the account yet, "
                f"so no order is sent for {self.settle:g} s (MT5_TRADING_SETTLE); nothing sent: retry",
                attempts=attempt,
            )
        self._confirm(intent, me, attempt)

    def _confirm(self, intent: OrderIntent, me: Attempt, attempt: int) -> None:
        if not self._redis(lambda: self.journal.confirm(intent.login, intent.key, me), attempt):
            raise OwnershipLostError(
                f"order {intent.key!r} of account {intent.login}: this attempt's claim was taken over before the "
                "order left (its lease ran out); nothing sent",
                attempts=attempt,
            )

    def _settled(self, intent: OrderIntent, attempt: int) -> None:
        """Not found: proof that it did not happen only once an order that left has had time to arrive (the
        terminal, or a bridge, may still be executing a request whose sender is gone)."""
        age = self._redis(lambda: self.journal.since_sent(intent.login, intent.key), attempt)
        if age is not None and age < self.settle:
            raise OrderOutcomeUnknownError(
                f"order {intent.key!r} of account {intent.login} left {age:.1f} s ago and is not in the account yet: "
                f"it may still be in flight, so it is not resent before {self.settle:g} s (MT5_TRADING_SETTLE); retry",
                attempts=attempt,
            )

    def _claimed_at(self, intent: OrderIntent, attempt: int) -> float:
        found = self._redis(lambda: self.journal.read(intent.login, intent.key), attempt)
        return found.claimed_at if found is not None else time.time()

    def _recorded(self, intent: OrderIntent, attempt: int) -> dict[str, Any]:
        found = self._redis(lambda: self.journal.read(intent.login, intent.key), attempt)
        if found is None or found.outcome is None:  # expired between the claim and the read: ask again
            raise TransientMT5Error(f"order {intent.key!r}: record changed while read; retry", attempts=attempt)
        answer = found.outcome | {"source": "recorded"}
        self._outcome("recorded")
        log.info("mt5.trade.outcome", **(intent.audit() | _summary(answer)))
        return answer

    def _complete(self, intent: OrderIntent, result: dict[str, Any], source: str) -> dict[str, Any]:
        outcome = result | {"idempotency_key": intent.key, "login": intent.login}
        answer = outcome | {"source": source}
        try:
            first = self.journal.complete(intent.login, intent.key, intent.fingerprint, answer)
        except redis.RedisError as exc:
            # The outcome is known here; the record stays pending, and the next attempt after the lease reconciles.
            log.error("mt5.trade.record_failed", **intent.audit(), error=type(exc).__name__)
            first = True
        if not first:
            if source == "sent":  # never expected (one owner sends): the audit must show both executions
                log.error("mt5.trade.duplicate_execution", **(intent.audit() | _summary(answer)))
            return self._recorded(intent, 1)
        self._outcome("done" if source == "sent" else source)
        log.info("mt5.trade.outcome", **(intent.audit() | _summary(answer)))
        return answer

    @staticmethod
    def _redis(action: Callable[[], T], attempt: int, note: str = "") -> T:
        """``action`` on the records; Redis failing is an ordinary transient error (retried by Celery)."""
        try:
            return action()
        except redis.RedisError as exc:
            raise TransientMT5Error(f"order records unavailable (Redis: {type(exc).__name__}){note}",
                                    attempts=attempt) from None  # fmt: skip

    @staticmethod
    def _quietly(action: Callable[[], object], intent: OrderIntent) -> None:
        """A record update on the way out of a failed attempt: Redis failing must not hide the attempt's own error
        (a key left pending is reconciled after its lease)."""
        try:
            action()
        except redis.RedisError as exc:
            log.error("mt5.trade.record_failed", **intent.audit(), error=type(exc).__name__)


def _summary(answer: dict[str, Any]) -> dict[str, Any]:
    """The outcome's audit fields (``ticket`` is the order's ticket: ``order`` is the request's field)."""
    names = {"retcode": "retcode", "deal": "deal", "ticket": "order", "filled_volume": "volume", "fill_price": "price",
             "source": "source"}  # fmt: skip
    return {name: answer.get(field) for name, field in names.items()}
