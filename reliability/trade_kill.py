"""Orders under fire: every key executed at most once, and every key's outcome known, while workers are SIGKILLed,
bridges restarted, and replies lost after the simulated trade server executed the order.

    .venv/bin/python -m reliability.trade_kill [--quick] [--docs PATH] [--keep-logs]

Two workers, each with its terminal behind a bridge of its own; both bridges host simulators of the same trade
server (one store file: the server outlives them). ``mt5.order_send`` requests with distinct idempotency keys go
out at a steady rate through ``MT5Client``; meanwhile a chaos thread SIGKILLs a whole worker (restarted 1 s later,
same name), restarts one warm (SIGTERM: it leaves while its last order runs) or restarts a bridge every few
seconds, and the simulators lose the reply of 5% of the orders *after* executing them (``order_send`` returns
``None`` with ``-10002 IPC recv failed``: the case that doubles orders where retries are blind). A request with
no answer by its deadline, or answered "outcome unknown", is sent again with the same key, as a caller would,
until every key has an answer. Then the trade server's own record is the
judge: orders it executed (10009 done, 10008 placed) per key, against what the callers were told.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout

from harness.accounts import write_accounts
from harness.env import env_values
from mt5_worker.errors import MT5Error, OrderOutcomeUnknownError
from mt5_worker.manager.order_intents import ACCEPTED, tag_of
from mt5_worker.simulator.trade_store import TradeStore
from reliability import report, traffic
from reliability.processes import Fleet, make_accounts, sleep_until
from reliability.secrets_scan import scan

VISIBILITY = 10  # the minimum
# Share of the orders the trade server must have executed for the run to mean something (BTCUSD trades at every
# hour on the pinned clock; a refusal is an outcome too, but mostly refusals would make "0 duplicates" vacuous).
ENOUGH_EXECUTED = 0.8
SETTINGS: dict[str, object] = {
    "MT5_TRADING_ENABLED": "true",
    "MT5_TRADING_LEASE": 20,  # > the task time limit; restarts are resolved at once by the worker's new incarnation
    "MT5_TRADING_SETTLE": 5,  # a bridge finishes an order in milliseconds, even for a sender that died
    "MT5_SIMULATOR_LATENCY": {"order_send": 0.03, "login": 0.05},
    "MT5_SIMULATOR_SEED": 7,
    "MT5_BROKER_VISIBILITY_TIMEOUT": VISIBILITY,
    "MT5_TASK_TIME_LIMIT": 4,
    "MT5_CONNECTION_RETRY_BACKOFF_MAX": 1,
}
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


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    n_orders, n_accounts, rate, every = (40, 6, 20.0, 1.0) if quick else (1000, 20, 20.0, 4.0)
    lost_replies = 0.15 if quick else 0.05  # enough in a small run that some orders are reconciled
    settings = SETTINGS | {"MT5_SIMULATOR_FAULTS": {"order_send": {"rate": lost_replies, "code": -10002,
                                                                    "after": True}}}  # fmt: skip
    deadline = 8.0 if quick else 30.0  # quick: what a killed worker held is sent again sooner, with its key
    accounts = [a.model_copy(update={"balance": 100_000.0}) for a in make_accounts(n_accounts)]  # room for margin
    fleet = Fleet(logs, broker=broker)
    events: list[str] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = [fleet.worker(name, wait=False, bridged=True, MT5_SIMULATOR_ACCOUNTS=file,
                                MT5_CONNECTION_POOL_SIZE=n_accounts, **settings) for name in ("w1", "w2")]  # fmt: skip
        fleet.wait_serving(workers)
        orders = [Order(a.login, f"rel-{uuid.uuid4()}", a.password.get_secret_value(), a.server)
                  for a in (accounts[i % n_accounts] for i in range(n_orders))]  # fmt: skip
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
        started = time.time()
        sent = []
        for i, order in enumerate(orders):
            sleep_until(started + i / rate)
            sent.append((order, submit(fleet, order, deadline)))
        first_round: Counter[str] = Counter()
        for order, pending in sent:
            settle(fleet, order, pending, max(1.0, deadline - (time.time() - started)))
            first_round["answered" if order.answers else next(iter(order.errors))] += 1
        thread.join()
        fleet.wait_serving(workers)
        rounds = 0
        while (todo := [o for o in orders if o.final is None]) and rounds < 10:
            rounds += 1
            for order in todo:  # the caller's reaction to no answer: the same request, the same key
                settle(fleet, order, submit(fleet, order, deadline), deadline)
        recorded = {o.key: fleet.client.order_result(o.login, o.key)["state"] for o in orders}
        queued, unacked = traffic.wait_quiet(fleet)  # copies of answered requests drain (they hold passwords)
        store = TradeStore(Path(fleet.env["MT5_SIMULATOR_TRADE_STORE"]))
        executed = store.executions_by_comment()
        store.close()
        secrets = scan([o.password for o in orders], fleet.r, fleet.log_files(),
                       results=[a for o in orders for a in o.answers])  # fmt: skip
    finally:
        fleet.close()

    sources: Counter[str] = Counter()
    retcodes: Counter[int] = Counter()
    duplicates = lost = mismatched = 0
    for o in orders:
        count = executed.get(tag_of(o.login, o.key), 0)
        duplicates += count > 1
        final = o.final
        if final is None:
            lost += 1
            continue
        sources.update(a["source"] for a in o.answers)
        retcodes[int(final["retcode"])] += 1
        mismatched += (int(final["retcode"]) in ACCEPTED) != (count == 1)
    answered_again = sum(len(o.answers) > 1 and len({a.get("deal") for a in o.answers}) > 1 for o in orders)
    tally = traffic.Tally(sent=n_orders, succeeded=n_orders - lost, lost=lost)
    figures: list[tuple[str, object]] = [
        ("orders (distinct keys) / accounts", f"{n_orders} / {n_accounts}"),
        ("chaos events (worker SIGKILLs / warm restarts / bridge restarts)",
         f"{sum('SIGKILL' in e for e in events)} / {sum('warm' in e for e in events)} / "
         f"{sum('bridge' in e for e in events)}"),
        ("first round: answered / not (by kind)",
         ", ".join(f"{k} {n}" for k, n in first_round.most_common())),
        ("attempts in all (the caller re-sent the same key when it had no answer)", sum(o.attempts for o in orders)),
        ("answers by source (sent / recorded / reconciled)",
         " / ".join(str(sources[s]) for s in ("sent", "recorded", "reconciled"))),
        ("final retcodes", ", ".join(f"{code}: {n}" for code, n in sorted(retcodes.items()))),
        ("orders executed by the trade server", sum(min(1, executed.get(tag_of(o.login, o.key), 0)) for o in orders)),
        ("keys executed more than once (duplicates)", duplicates),
        ("keys without a final answer (lost)", lost),
        ("answers that disagree with the trade server", mismatched),
        ("keys whose answers named different deals", answered_again),
        ("keys whose record is done afterwards (order_result)", sum(s == "done" for s in recorded.values())),
        ("messages left in the broker at the end (queued / unacknowledged)", f"{queued} / {unacked}"),
        ("password hits (Redis keys, log lines, results)", f"{secrets.total_hits} ({secrets.summary()})"),
    ]  # fmt: skip
    problems = [f"{n} {what}" for n, what in ((duplicates, "duplicated orders"), (mismatched, "answers that disagree"),
                (answered_again, "keys answered with different deals"), (secrets.total_hits, "password hits"))
                if n]  # fmt: skip
    if sum(s == "done" for s in recorded.values()) != n_orders - lost:
        problems.append("a key's outcome is not readable afterwards")
    executed_keys = sum(min(1, executed.get(tag_of(o.login, o.key), 0)) for o in orders)
    if executed_keys < ENOUGH_EXECUTED * n_orders:  # "0 duplicates" of a few executed orders means nothing
        problems.append(f"only {executed_keys} of {n_orders} orders executed (fewer than {ENOUGH_EXECUTED:.0%})")
    return report.Outcome(
        broker=broker,
        duplicates=duplicates,
        name="trade_kill",
        title="Orders while workers die, bridges restart and replies are lost",
        argv=[],
        tally=tally,
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
for the order in the account before anything else (`reconciled`). See [trading.md](trading.md).
""",
    )


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
