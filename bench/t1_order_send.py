"""T1: orders per second through ``mt5.order_send`` on one worker, and the service's own cost per order.

Part 1, a real worker (``MT5_TRADING_ENABLED=true``), zero and ``realistic`` latency (``order_send`` 20 ms, a round
trip to the trade server): ``mt5.order_send`` requests with distinct keys for one account (switching accounts costs
a ``login()`` each, which P1 and P3 measure), each a BTCUSD 0.01 lot that opens a position, then the same number
that close them (``position``), published at once; the rate between completions (``date_done``) after the client
finished publishing.

Part 2, in one process: the order desk the worker runs (a real Redis: the claim, the confirmation, the outcome and
its trade event; the trading pre-checks ``terminal_info``/``account_info``; the tag search before a fresh key's
first send; the manager's lock and its log line per SDK call) against the bare simulator ``order_send`` of the same
order, zero latency, round by round on accounts of their own so both see as much history. The figure: the desk's
p50 minus the bare call's p50 per order (target <= 3 ms), and the tag search's own share (the desk with the
search off).

Every order must execute (retcode 10009, counted again in the trade store): a rate of refused orders means
nothing.

    .venv/bin/python -m bench.t1_order_send [--quick] [--orders 600] [--rounds 5] [--docs PATH]
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench import report
from bench.harness import Fleet, accounts, fleet, rate, specs
from harness.accounts import write_accounts
from harness.env import clock_offset
from mt5_worker.cli.devstack import wait_for
from mt5_worker.fleet.order_desk import OrderDesk
from mt5_worker.fleet.order_journal import OrderJournal, TradeEvents
from mt5_worker.logging import configure_logging
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.order_intents import prepare
from mt5_worker.manager.trading import Trader
from mt5_worker.settings import Settings
from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.simulator.trade_store import TradeStore
from mt5_worker.streams.codec import trade_fields
from mt5_worker.streams.keys import HORIZON_KEY, trades_key
from mt5_worker.terminal import constants as c

TARGET_MS = 3.0
ENOUGH = 0.95  # share of the orders that must execute for a figure to mean anything
BUY = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}
RICH = 10_000_000.0  # balance: room for every order's margin


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--orders", type=int, help="orders per worker run, half opening, half closing (default 600)")
    parser.add_argument("--rounds", type=int, help="in-process rounds (default 5; quick 2)")
    args = parser.parse_args(argv)
    n = args.orders or (40 if args.quick else 600)
    rounds = args.rounds or (2 if args.quick else 5)
    per_round = 20 if args.quick else 200

    with fleet(args.keep_logs, forked=args.quick) as f:
        rates = {profile: worker_rate(f, profile, n) for profile in ("zero", "realistic")}
        costs = desk_costs(f, rounds, per_round)

    added, search = costs.added("desk"), costs.added("desk") - costs.added("desk, no search")
    wall_added = costs.p50_wall("desk") - costs.p50_wall("bare")
    met = added <= TARGET_MS
    print(f"T1 order_send: {n} orders per worker run; in-process {rounds} rounds x {per_round} orders per variant; "
          f"load average {costs.load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    for profile, (orders_per_s, executed) in rates.items():
        print(f"  one worker, {profile} latency: {orders_per_s:.1f} orders/s ({executed} executed)")
    for name in costs.wall:
        print(
            f"  {name:<16} CPU p50 {costs.p50_cpu(name):.3f} ms + Redis {costs.redis[name]:.3f} ms; wall p50 "
            f"{costs.p50_wall(name):.3f} ms, p90 {_p(costs.wall[name], 0.9):.3f} ms ({len(costs.wall[name])})"
        )
    print(f"  tag search before a fresh key's first send: {search:.3f} ms CPU per order")
    print(f"  added by the service, wall p50 (this machine's load included): {wall_added:.3f} ms")
    print(report.ratio_line("T1", "the service's own cost per order, CPU p50 desk + Redis - bare order_send (ms)",
                            added, f"<= {TARGET_MS:g}", met))  # fmt: skip

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        write_section(docs, n, rounds, per_round, rates, costs, met)
    return 0


# --- part 1: a worker ----------------------------------------------------------------------------------------------


def worker_rate(f: Fleet, profile: str, n: int) -> tuple[float, int]:
    """Orders per second through ``mt5.order_send`` on one worker: half open a position, half close one."""
    # One account: the order path itself (switching accounts costs a login() each, which P1 and P3 measure).
    accts = accounts(1, first_login=31_000_001 if profile == "zero" else 31_000_101)
    file = write_accounts(f.log_dir / f"accounts-{profile}.json", [a.model_copy(update={"balance": RICH})
                                                                    for a in specs(accts)])  # fmt: skip
    worker = f.start_worker(f"t1-{profile}", MT5_SIMULATOR_ACCOUNTS=file, MT5_TRADING_ENABLED=True,
                            MT5_SIMULATOR_LATENCY=profile)  # fmt: skip
    creds: dict[int, dict[str, Any]] = {login: {"login": login, "server": server, "password": password}
                                        for login, server, password in accts}  # fmt: skip
    for kw in creds.values():  # warm: each account's session and its first account_info (the worker is up then)
        f.call("mt5.account_info", timeout=120, **kw)
    wait_for(lambda: worker.nodename in f.live_workers(), 30, "the worker to register")  # affinity routes to it
    logins = [accts[i % len(accts)][0] for i in range(n // 2)]
    opens = [creds[login] | {"request": BUY, "idempotency_key": f"t1-{uuid.uuid4()}"} for login in logins]
    started = time.time()
    ids = f.publish("mt5.order_send", opens)
    metas = f.results(ids, timeout=300)
    closes = [creds[m["result"]["login"]] | {"request": BUY | {"type": "sell", "position": m["result"]["order"]},
                                             "idempotency_key": f"t1-{uuid.uuid4()}"} for m in metas]  # fmt: skip
    published = time.time()
    metas += f.results(f.publish("mt5.order_send", closes), timeout=300)
    answers = [m["result"] for m in metas]
    executed = _executed(f, {a["idempotency_key"] for a in answers}, [login for login, _, _ in accts])
    done = sum(a["retcode"] == c.TRADE_RETCODE_DONE for a in answers)
    if min(done, executed) < ENOUGH * len(answers):
        raise SystemExit(f"T1: only {done} of {len(answers)} orders answered done ({executed} in the trade store)")
    worker.stop()
    # The opening half's rate, and the closing half's after its publishing ended; the mean of the two.
    first = rate(metas[: len(opens)], after=started)
    second = rate(metas[len(opens) :], after=published)
    return statistics.mean([first, second]), executed


def _executed(f: Fleet, keys: set[str], logins: list[int]) -> int:
    store = TradeStore(Path(f.env["MT5_SIMULATOR_TRADE_STORE"]))
    try:
        tags = {prepare(login, BUY, k).tag for login in logins for k in keys}
        return sum(1 for e in store.executions() if e.comment in tags)
    finally:
        store.close()


# --- part 2: in one process ----------------------------------------------------------------------------------------


@dataclass
class Costs:
    """Per order and variant: wall and CPU milliseconds (this process's thread), and Redis's CPU per order."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    redis: dict[str, float] = field(default_factory=dict)  # mean ms of Redis CPU per order
    load: float = 0.0  # the machine's 1-minute load average at the end

    def p50_wall(self, name: str) -> float:
        return statistics.median(self.wall[name])

    def p50_cpu(self, name: str) -> float:
        return statistics.median(self.cpu[name])

    def added(self, name: str) -> float:
        """CPU ``name`` spends per order beyond the bare call, Redis's included."""
        return self.p50_cpu(name) + self.redis[name] - self.p50_cpu("bare") - self.redis["bare"]


def desk_costs(f: Fleet, rounds: int, per_round: int) -> Costs:
    """Per order: the bare simulator call, the desk, and the desk without the tag search."""
    configure_logging("json", "INFO")  # as a worker logs: one line per SDK call (to a file, as a worker's)
    accts = [a.model_copy(update={"balance": RICH}) for a in specs(accounts(3 * rounds, first_login=32_000_001))]
    sim = SimulatedTerminal(accts, clock_offset=clock_offset(), trade_store=f.log_dir / "t1-store.sqlite3")
    manager = MT5ConnectionManager(sim, Settings.load(_env_file=None), sleep=lambda _: None)
    client = redis.Redis.from_url(f.redis_url)
    journal = OrderJournal(client, ttl=3600, lease=240, events=TradeEvents(trades_key, HORIZON_KEY, trade_fields))
    desks = {True: OrderDesk(Trader(manager), journal, "t1@bench"),
             False: OrderDesk(Trader(manager), journal, "t1@bench", presend_window=None)}  # fmt: skip
    names = ("bare", "desk", "desk, no search")
    costs = Costs({n: [] for n in names}, {n: [] for n in names}, dict.fromkeys(names, 0.0))
    executed = 0
    try:
        with _stderr_to(f.log_dir / "t1-in-process.log"):
            for r in range(rounds):
                bare_account, searched, unsearched = accts[3 * r : 3 * r + 3]
                runs: list[tuple[str, Callable[[int], bool]]] = [
                    ("bare", _bare(manager, bare_account)),
                    ("desk", _desk(desks[True], searched)),
                    ("desk, no search", _desk(desks[False], unsearched)),
                ]
                for name, run in runs if r % 2 == 0 else runs[::-1]:
                    redis_before = _redis_cpu(client)
                    for i in range(per_round):
                        wall, cpu = time.perf_counter(), time.thread_time()
                        ok = run(i)
                        costs.cpu[name].append((time.thread_time() - cpu) * 1000)
                        costs.wall[name].append((time.perf_counter() - wall) * 1000)
                        executed += ok
                    costs.redis[name] += (_redis_cpu(client) - redis_before) * 1000 / (rounds * per_round)
        costs.load = os.getloadavg()[0]
    finally:
        manager.shutdown()
        client.close()
    total = 3 * rounds * per_round
    if executed < ENOUGH * total:
        raise SystemExit(f"T1: only {executed} of {total} in-process orders executed")
    return costs


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """This process's stderr (where the service's log lines go) into ``path`` meanwhile, as a worker's."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            if sys.__stderr__ is not None:
                sys.__stderr__.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _bare(manager: MT5ConnectionManager, account: Any) -> Callable[[int], bool]:
    """The simulator's own ``order_send``, the account already active (what the desk's cost is added to)."""
    password = account.password.get_secret_value()
    manager.login(account.login, password, account.server)
    terminal = manager._terminal  # the bare call: no lock, no log line, no checks
    opened: list[int] = []

    def run(i: int) -> bool:
        manager.login(account.login, password, account.server)  # no SDK call when already active
        request = prepare(account.login, _request(i, opened), f"bare-{uuid.uuid4()}").request
        result = terminal.order_send(request)
        return _done(result.retcode if result is not None else 0, result.order if result is not None else 0, i, opened)

    return run


def _desk(desk: OrderDesk, account: Any) -> Callable[[int], bool]:
    creds = {"password": account.password.get_secret_value(), "server": account.server}
    opened: list[int] = []

    def run(i: int) -> bool:
        answer = desk.send(prepare(account.login, _request(i, opened), f"desk-{uuid.uuid4()}"), "t1", **creds)
        return _done(answer["retcode"], answer["order"], i, opened)

    return run


def _request(i: int, opened: list[int]) -> dict[str, Any]:
    """Even orders open a position, odd ones close the last opened (the account's positions stay few)."""
    return BUY if i % 2 == 0 or not opened else BUY | {"type": "sell", "position": opened.pop()}


def _done(retcode: int, order: int, i: int, opened: list[int]) -> bool:
    if retcode == c.TRADE_RETCODE_DONE and i % 2 == 0:
        opened.append(order)
    return retcode == c.TRADE_RETCODE_DONE


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the performance page ------------------------------------------------------------------------------------------


def write_section(docs: Path, n: int, rounds: int, per_round: int, rates: dict[str, tuple[float, int]],
                  costs: Costs, met: bool) -> None:  # fmt: skip
    added, search = costs.added("desk"), costs.added("desk") - costs.added("desk, no search")
    wall_added = costs.p50_wall("desk") - costs.p50_wall("bare")
    rate_rows = [(f"`{profile}`", f"{orders_per_s:.1f}", f"{executed:,}") for profile, (orders_per_s, executed)
                 in rates.items()]  # fmt: skip
    cost_rows = [(name, f"{costs.p50_cpu(name):.3f}", f"{costs.redis[name]:.3f}", f"{costs.p50_wall(name):.3f}",
                  f"{_p(costs.wall[name], 0.9):.3f}", f"{len(costs.wall[name]):,}") for name in costs.wall]  # fmt: skip
    body = f"""\
## T1: orders per second, and what the service adds to an order

**One worker** (`MT5_TRADING_ENABLED=true`, default settings otherwise): {n:,} `mt5.order_send` requests with
distinct keys for one account (switching accounts costs a `login()` each: P1, P3), half opening a BTCUSD 0.01 lot
position, then half closing them; every order executed (checked in the trade store). Rate between completions
(`date_done`) after the client finished publishing, the mean of the two halves.

{report.table(["latency profile", "orders/s", "executed"], rate_rows)}

With `realistic` latency each order costs the terminal's `order_send` (20 ms, a round trip to the trade server: an
assumption) plus 2 ms for each of `terminal_info`, `account_info`, `symbol_info_tick` and `history_deals_get` (the
pre-checks and the tag search: local calls on a real terminal), about 28 ms: one worker's ceiling is near 35
orders/s; the rest is the service's and Celery's.

**The service's own cost** per order, in one process (zero latency, a real Redis): the order desk as the worker
runs it (the claim, the confirmation and the outcome in Redis with its trade event, the trading pre-checks
`terminal_info` and `account_info`, the tag search over the last day's history before a fresh key's first send,
the manager's lock and one JSON log line per SDK call) against the bare simulator `order_send` of the same order;
{rounds} rounds x {per_round} orders per variant, alternating opening and closing orders, each variant on accounts
of its own so each sees as much history. CPU per order is this process's (its thread's CPU clock around each
order), plus Redis's CPU (`INFO cpu`) over the variant's orders; wall times include whatever else the machine
ran (load average {costs.load:.1f} on {os.cpu_count()} cores at the end of this run).

{report.table(["per order", "CPU p50 ms", "+ Redis CPU ms", "wall p50 ms", "wall p90 ms", "orders"], cost_rows)}

**Added by the service at p50: {added:.2f} ms of CPU (target <= {TARGET_MS:g} ms: {"met" if met else "NOT met"});
by the wall clock {wall_added:.2f} ms on this machine under that load.** The tag search's share: {search:.2f} ms
(the desk with and without it). On a real terminal the search is `history_deals_get` over the window plus
`symbol_info_tick`: the terminal answers from the account's history it keeps locally (the trade server pushes
every deal and order to it as a trade transaction; `HistorySelect` selects from that copy), with no round trip to
the server, so it costs what converting the window's deals to tuples costs, in proportion to the deals in the
window ([trading.md](trading.md#redis-is-the-fast-path-the-trade-server-the-record)).

Command: `{report.command("bench.t1_order_send", report.argv())}`; machine: {report.machine()}.
"""
    report.update_section(docs, "T1", body, [
        report.Verdict("the service's own cost per order (CPU p50, desk + Redis - bare order_send)",
                       f"{added:.2f} ms", f"<= {TARGET_MS:g} ms", met),
    ])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
