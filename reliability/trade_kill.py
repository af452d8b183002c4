"""Orders under fire: every key executed at most once, and every key's outcome known, while workers are SIGKILLed,
bridges restarted, and replies lost after the simulated trade server executed the order; or while the Redis that
holds the order records is restarted without persistence or flushed.

    .venv/bin/python -m reliability.trade_kill [--quick] [--records-lost restart|flushall] [--docs PATH] [--keep-logs]

Two workers, each with its terminal behind a bridge of its own; both bridges host simulators of the same trade
server (one store file: the server outlives them). ``mt5.order_send`` requests with distinct idempotency keys go
out at a steady rate through ``MT5Client``; meanwhile a chaos thread SIGKILLs a whole worker (restarted 1 s later,
same name), restarts one warm (SIGTERM: it leaves while its last order runs) or restarts a bridge every few
seconds, and the simulators lose the reply of 5% of the orders *after* executing them (``order_send`` returns
``None`` with ``-10002 IPC recv failed``: the case that doubles orders where retries are blind). A request with
no answer by its deadline, or answered "outcome unknown", is sent again with the same key, as a caller would,
until every key has an answer. Then the trade server's own record is the judge: orders it executed (10009 done,
10008 placed) per key, against what the callers were told; and each account's trade events stream must hold each
key's outcome exactly once.

``--records-lost restart`` / ``flushall`` (sections ``trade_kill_redis_restart``, ``trade_kill_flushall``): the
order records live in a Redis of their own (``MT5_SESSIONS_REDIS_URL``: records, registry, sessions, trade
events), which the chaos thread restarts without persistence, or ``FLUSHALL``s, every few seconds while orders
are in flight; replies are still lost after execution. Afterwards every key is sent once more, as a caller that
lost track would: each must answer its outcome, from the record or found in the account, with 0 duplicates.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from harness.accounts import write_accounts
from harness.env import env_values
from mt5_worker.cli.devstack import RedisServer
from mt5_worker.simulator.trade_store import TradeStore
from mt5_worker.streams.keys import trades_key
from reliability import report, traffic
from reliability.orders import (
    Judgement,
    Order,
    events_not_once,
    judge,
    resend_unanswered,
    send_paced,
    settle,
    submit,
    trade_events,
)
from reliability.processes import Fleet, make_accounts
from reliability.secrets_scan import scan

VISIBILITY = 10  # the minimum
# Share of the orders the trade server must have executed for the run to mean something (BTCUSD trades at every
# hour on the pinned clock; a refusal is an outcome too, but mostly refusals would make "0 duplicates" vacuous).
ENOUGH_EXECUTED = 0.8
SETTINGS: dict[str, Any] = {
    "MT5_TRADING_ENABLED": "true",
    "MT5_TRADING_LEASE": 20,  # > the task time limit; restarts are resolved at once by the worker's new incarnation
    "MT5_TRADING_SETTLE": 5,  # a bridge finishes an order in milliseconds, even for a sender that died
    "MT5_SIMULATOR_LATENCY": {"order_send": 0.03, "login": 0.05},
    "MT5_SIMULATOR_SEED": 7,
    "MT5_BROKER_VISIBILITY_TIMEOUT": VISIBILITY,
    "MT5_TASK_TIME_LIMIT": 4,
    "MT5_CONNECTION_RETRY_BACKOFF_MAX": 1,
}
LOSSES = ("restart", "flushall")


def run(quick: bool, logs: Path, broker: str = "redis", records_lost: str | None = None) -> report.Outcome:
    if records_lost is not None:
        return run_records_lost(quick, logs, broker, records_lost)
    n_orders, n_accounts, rate, every = (40, 6, 20.0, 1.0) if quick else (1000, 20, 20.0, 4.0)
    lost_replies = 0.15 if quick else 0.05  # enough in a small run that some orders are reconciled
    settings = SETTINGS | _lost_replies(lost_replies)
    deadline = 8.0 if quick else 30.0  # quick: what a killed worker held is sent again sooner, with its key
    accounts = [a.model_copy(update={"balance": 100_000.0}) for a in make_accounts(n_accounts)]  # room for margin
    fleet = Fleet(logs, broker=broker, forked=quick)
    events: list[str] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = [fleet.worker(name, wait=False, bridged=True, MT5_SIMULATOR_ACCOUNTS=file,
                                MT5_CONNECTION_POOL_SIZE=n_accounts, **settings) for name in ("w1", "w2")]  # fmt: skip
        fleet.wait_serving(workers)
        orders = _orders(accounts, n_orders)
        span = n_orders / rate

        def chaos() -> None:
            start, step = time.time(), 0
            while time.time() - start < span - every / 2:
                time.sleep(every)
                target = workers[step % 2]
                if step % 4 == 2 and target.bridge is not None:
                    target.bridge.restart()
                    events.append(f"bridge of {target.name} restarted")
                elif step % 4 == 3:  # a warm shutdown (`docker stop`): the worker leaves while its last order runs
                    target.stop()
                    target.start()
                    events.append(f"{target.name} warm-restarted")
                else:
                    target.kill()
                    time.sleep(1.0)
                    target.start()
                    events.append(f"{target.name} SIGKILLed")
                step += 1

        thread = traffic.run_in_background(chaos, "chaos")
        first_round = send_paced(fleet, orders, rate, deadline, time.time())
        thread.join()
        fleet.wait_serving(workers)
        resend_unanswered(fleet, orders, deadline)
        recorded = {o.key: fleet.client.order_result(o.login, o.key)["state"] for o in orders}
        stream = trade_events(fleet.r, (o.login for o in orders))
        queued, unacked = traffic.wait_quiet(fleet)  # copies of answered requests drain (they hold passwords)
        executed = _executed(fleet)
        secrets = scan([o.password for o in orders], fleet.r, fleet.log_files(),
                       results=[a for o in orders for a in o.answers])  # fmt: skip
    finally:
        fleet.close()

    j = judge(orders, executed)
    not_once = events_not_once(orders, stream)
    figures: list[tuple[str, object]] = [
        ("orders (distinct keys) / accounts", f"{n_orders} / {n_accounts}"),
        ("chaos events (worker SIGKILLs / warm restarts / bridge restarts)",
         f"{sum('SIGKILL' in e for e in events)} / {sum('warm' in e for e in events)} / "
         f"{sum('bridge' in e for e in events)}"),
        ("first round: answered / not (by kind)", ", ".join(f"{k} {n}" for k, n in first_round.most_common())),
        ("attempts in all (the caller re-sent the same key when it had no answer)", sum(o.attempts for o in orders)),
        *_verdict(j, orders),
        ("keys whose record is done afterwards (order_result)", sum(s == "done" for s in recorded.values())),
        ("keys whose outcome is in its account's trade events stream exactly once", len(orders) - j.lost - not_once),
        ("messages left in the broker at the end (queued / unacknowledged)", f"{queued} / {unacked}"),
        ("password hits (Redis keys, log lines, results)", f"{secrets.total_hits} ({secrets.summary()})"),
    ]  # fmt: skip
    problems = _problems(j, n_orders, secrets.total_hits)
    if sum(s == "done" for s in recorded.values()) != n_orders - j.lost:
        problems.append("a key's outcome is not readable afterwards")
    if not_once:
        problems.append(f"{not_once} keys not exactly once in their trade events stream")
    return report.Outcome(
        broker=broker,
        duplicates=j.duplicates,
        name="trade_kill",
        title="Orders while workers die, bridges restart and replies are lost",
        argv=[],
        tally=traffic.Tally(sent=n_orders, succeeded=n_orders - j.lost, lost=j.lost),
        deadline=deadline,
        injected=(
            f"{n_orders:,} `mt5.order_send` requests with distinct idempotency keys over {n_accounts} accounts at "
            f"{rate:g}/s to workers w1 and w2, each behind its own bridge; every {every:g} s a worker SIGKILLed "
            f"(restarted 1 s later), or restarted warm (SIGTERM), or its bridge restarted, in turn; "
            f"{lost_replies:.0%} of the orders executed by the "
            "simulated trade server and then answered `None` with -10002 (the reply lost)."
        ),
        settings=env_values(settings),
        figures=figures,
        extra_problems=problems,
        notes="""\
The trade server's own record (the simulator's store, which every simulated terminal of the server shares and
which outlives workers and bridges) is the judge: for each key, the orders it accepted (10009, 10008) carrying the
key's tag. "Duplicates" are keys it executed twice; "disagree" counts keys whose final answer says done but the
server has no execution, or the reverse. Requests without an answer by their deadline (the worker died with them
in hand, the reply was lost, the broker lost the message) were sent again with the same key, as a caller would:
the record answers at once if it holds the outcome (`recorded`), and an attempt after an unknown outcome looks
for the order in the account before anything else (`reconciled`). Each key's outcome is appended to its account's
trade events stream (`mt5:trades:<login>`) in the step that records it: once, whichever attempt recorded it. See
[trading.md](trading.md).
""",
    )


def run_records_lost(quick: bool, logs: Path, broker: str, how: str) -> report.Outcome:
    """The order records' Redis restarted without persistence (``restart``) or flushed (``flushall``) while orders
    are in flight; then every key sent once more."""
    if how not in LOSSES:
        raise ValueError(f"--records-lost: one of {', '.join(LOSSES)}")
    n_orders, n_accounts, rate, every = (60, 6, 20.0, 1.2) if quick else (1000, 20, 20.0, 6.0)
    lost_replies = 0.15 if quick else 0.05
    # No bridge here: an order that left finishes within milliseconds, so fresh sends are held 2 s after a loss.
    settings = SETTINGS | _lost_replies(lost_replies) | {"MT5_HEARTBEAT_INTERVAL": 1, "MT5_TRADING_SETTLE": 2}
    deadline = 8.0 if quick else 30.0
    accounts = [a.model_copy(update={"balance": 100_000.0}) for a in make_accounts(n_accounts)]
    journal = RedisServer(logs).start()  # records, registry, sessions and trade events: no persistence
    fleet = Fleet(logs, broker=broker, sessions_redis_url=journal.url, forked=quick)
    records = redis.Redis.from_url(journal.url, socket_timeout=5, socket_connect_timeout=1)
    losses: list[float] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = [fleet.worker(name, wait=False, MT5_SIMULATOR_ACCOUNTS=file, MT5_CONNECTION_POOL_SIZE=n_accounts,
                                MT5_SESSIONS_REDIS_URL=journal.url, **settings) for name in ("w1", "w2")]  # fmt: skip
        fleet.wait_serving(workers)
        orders = _orders(accounts, n_orders)
        span = n_orders / rate

        def executed_since_the_last_loss() -> bool:
            """An order's trade event is in the records' Redis: a loss now takes an executed order's record."""
            try:
                return any(records.exists(trades_key(a.login)) for a in accounts)
            except redis.RedisError:
                return False  # restarting

        def chaos() -> None:
            start = time.time()
            while time.time() - start < span - every / 2:
                time.sleep(every)
                # On a slow machine the first orders may execute after the first planned loss: wait for one, or the
                # loss takes no executed order's record and the read-back's reconciliation goes untested.
                while not executed_since_the_last_loss() and time.time() - start < span + deadline:
                    time.sleep(0.05)
                if how == "restart":
                    journal.stop()
                    journal.start()
                else:
                    records.flushall()
                losses.append(time.time())

        thread = traffic.run_in_background(chaos, "chaos")
        first_round = send_paced(fleet, orders, rate, deadline, time.time())
        thread.join()
        fleet.wait_serving(workers)
        resend_unanswered(fleet, orders, deadline)
        before = {o.key: fleet.client.order_result(o.login, o.key)["state"] for o in orders}
        read_back = _read_back(fleet, orders, deadline)  # after the last loss: each key once more
        stream = trade_events(records, (o.login for o in orders))
        queued, unacked = traffic.wait_quiet(fleet)
        executed = _executed(fleet)
        passwords = [o.password for o in orders]
        secrets = scan(passwords, fleet.r, fleet.log_files(), results=[a for o in orders for a in o.answers])
        in_records = scan(passwords, records, {})
    finally:
        records.close()
        fleet.close()
        journal.stop()

    j = judge(orders, executed)
    not_once = events_not_once(orders, stream)
    hits = secrets.total_hits + in_records.total_hits
    readable = sum(n for source, n in read_back.items() if source != "no answer")
    figures: list[tuple[str, object]] = [
        ("orders (distinct keys) / accounts", f"{n_orders} / {n_accounts}"),
        (f"records lost ({'Redis restarted without persistence' if how == 'restart' else 'FLUSHALL'})", len(losses)),
        ("first round: answered / not (by kind)", ", ".join(f"{k} {n}" for k, n in first_round.most_common())),
        ("keys whose record was gone afterwards (order_result: none)", sum(s == "none" for s in before.values())),
        ("attempts in all (first round, re-sends without an answer, read-back)", sum(o.attempts for o in orders)),
        *_verdict(j, orders),
        ("read-back: each key sent once more (recorded / found in the account / sent / no answer)",
         " / ".join(str(read_back[s]) for s in ("recorded", "reconciled", "sent", "no answer"))),
        ("keys whose outcome is readable afterwards", readable),
        ("keys whose outcome is in its account's trade events stream exactly once", len(orders) - j.lost - not_once),
        ("messages left in the broker at the end (queued / unacknowledged)", f"{queued} / {unacked}"),
        ("password hits (Redis keys, both Redis, log lines, results)", f"{hits} ({secrets.summary()})"),
    ]  # fmt: skip
    problems = _problems(j, n_orders, hits)
    if readable != n_orders:
        problems.append(f"{n_orders - readable} keys' outcomes not readable afterwards")
    if not_once:
        problems.append(f"{not_once} keys not exactly once in their trade events stream")
    if not losses:
        problems.append("no records were lost: the scenario did not happen")
    name = "trade_kill_redis_restart" if how == "restart" else "trade_kill_flushall"
    what = "restarted without persistence" if how == "restart" else "flushed (FLUSHALL)"
    return report.Outcome(
        broker=broker,
        duplicates=j.duplicates,
        name=name,
        title=f"Orders while the order records' Redis is {what}",
        argv=[],
        tally=traffic.Tally(sent=n_orders, succeeded=n_orders - j.lost, lost=j.lost),
        deadline=deadline,
        injected=(
            f"{n_orders:,} `mt5.order_send` requests with distinct idempotency keys over {n_accounts} accounts at "
            f"{rate:g}/s to workers w1 and w2, the order records (and registry, sessions, trade events) in a Redis "
            f"of their own (`MT5_SESSIONS_REDIS_URL`), {what} every {every:g} s; {lost_replies:.0%} of the orders "
            "executed and then answered `None` with -10002 (the reply lost). Then every key sent once more."
        ),
        settings=env_values(settings),
        figures=figures,
        extra_problems=problems,
        notes="""\
Redis is the fast path, the trade server the record: a key whose record Redis lost is sent again as a fresh key,
and before its first send the worker searches the account for the key's tag (`MT5_TRADING_PRESEND_SEARCH`), so an
order that executed is reported (`reconciled`), not executed twice. A worker that saw the records vanish (the
journal's epoch changed) sends no fresh key for `MT5_TRADING_SETTLE` seconds, so an order on its way to the
account at the moment of the loss cannot be sent a second time by another worker meanwhile. The read-back sends
every key once more after the last loss: each answers its outcome from the record (`recorded`) or from the
account (`reconciled`). The trade events stream lost its entries with the rest; after the read-back each key's
outcome is in it exactly once. See [trading.md](trading.md#redis-is-the-fast-path-the-trade-server-the-record).
""",
    )


def _lost_replies(rate: float) -> dict[str, Any]:
    return {"MT5_SIMULATOR_FAULTS": {"order_send": {"rate": rate, "code": -10002, "after": True}}}


def _orders(accounts: list[Any], n: int) -> list[Order]:
    return [Order(a.login, f"rel-{uuid.uuid4()}", a.password.get_secret_value(), a.server)
            for a in (accounts[i % len(accounts)] for i in range(n))]  # fmt: skip


def _executed(fleet: Fleet) -> Counter[str]:
    store = TradeStore(Path(fleet.env["MT5_SIMULATOR_TRADE_STORE"]))
    try:
        return store.executions_by_comment()
    finally:
        store.close()


def _read_back(fleet: Fleet, orders: list[Order], deadline: float) -> Counter[str]:
    """Every key sent once more, until it answers (a worker holding fresh sends after a loss says so first): by the
    answer's source."""
    how: Counter[str] = Counter()
    for order in orders:
        for _ in range(10):
            answered = len(order.answers)
            settle(fleet, order, submit(fleet, order, deadline), deadline)
            if len(order.answers) > answered:
                how[order.answers[-1]["source"]] += 1
                break
            time.sleep(0.5)
        else:
            how["no answer"] += 1
    return how


def _verdict(j: Judgement, orders: list[Order]) -> list[tuple[str, object]]:
    return [
        ("answers by source (sent / recorded / reconciled)",
         " / ".join(str(j.sources[s]) for s in ("sent", "recorded", "reconciled"))),
        ("final retcodes", ", ".join(f"{code}: {n}" for code, n in sorted(j.retcodes.items()))),
        ("orders executed by the trade server", j.executed),
        ("keys executed more than once (duplicates)", j.duplicates),
        ("keys without a final answer (lost)", j.lost),
        ("answers that disagree with the trade server", j.mismatched),
        ("keys whose answers named different deals", j.answered_again),
    ]  # fmt: skip


def _problems(j: Judgement, n_orders: int, password_hits: int) -> list[str]:
    counts = ((j.duplicates, "duplicated orders"), (j.mismatched, "answers that disagree"),
              (j.answered_again, "keys answered with different deals"), (password_hits, "password hits"))  # fmt: skip
    problems = [f"{n} {what}" for n, what in counts if n]
    if j.executed < ENOUGH_EXECUTED * n_orders:  # "0 duplicates" of a few executed orders means nothing
        problems.append(f"only {j.executed} of {n_orders} orders executed (fewer than {ENOUGH_EXECUTED:.0%})")
    return problems


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records-lost", choices=LOSSES, default=None,
                   help="instead: the order records' Redis restarted without persistence (restart) or flushed "
                        "(flushall) while orders are in flight (sections trade_kill_redis_restart, "
                        "trade_kill_flushall)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
