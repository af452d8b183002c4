"""The simulated trade servers' state: what ``order_send`` changed on each account, kept in SQLite.

Real terminals share their trade server: an order one terminal executes is there for every other terminal, and
for the same terminal after a restart. Simulated terminals share a :class:`TradeStore` the same way: every worker
process and bridge process on a machine opens the same file (``MT5_SIMULATOR_TRADE_STORE``), so an order executed
by one is seen by all, and survives the death (even SIGKILL) of any of them.

Per ``(server, login)`` it holds the positions and pending orders ``order_send`` opened, the history orders and
deals it and the server's own events created, the generated-ledger tickets (:mod:`~mt5_worker.simulator.ledger`) it
took over (closed, removed, or now kept here because they changed), and how far the account has been played
forward (``processed_to``: :mod:`~mt5_worker.simulator.trade_life`). Records are stored as JSON arrays of their
fields; a deal's ``profit`` column is its money (profit, swap and commission), which the balance sums.

- One ``order_send``, and one playing forward of an account, is one ``BEGIN IMMEDIATE`` transaction
  (:meth:`TradeStore.session`): it reads the account, decides, writes and commits, or writes nothing. Playing
  forward starts from the ``processed_to`` it reads under the lock and moves it, so the same span is never played
  twice, whichever processes look at the account at the same moment. WAL journal and a busy timeout let several
  processes wait for each other instead of failing.
- The connection opens on first use (no I/O at import or construction) and once per process: a forked child
  opens its own, as redis-py's pools do (SQLite connections must not cross ``fork()``).
- ``TradeStore(None)`` is an in-memory store private to the object (unit tests).

The read-only inspection API (:meth:`TradeStore.deals`, :meth:`TradeStore.executions_by_comment`) lets tests and
the fault campaign count what really executed, straight from the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from mt5_worker.terminal.records import TradeDeal, TradeOrder, TradePosition

DEFAULT_FILE_NAME = "mt5-worker-simulated-trade-servers.sqlite3"
# Tickets the store hands out: above every generated ledger's (ledger.py: below 10**15) and below 2**53, so they
# stay exact in JSON for any client language.
FIRST_TICKET = 10**15
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY CHECK (id = 0), next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (server TEXT, login INTEGER, ticket INTEGER, record TEXT NOT NULL,
                                      PRIMARY KEY (server, login, ticket));
CREATE TABLE IF NOT EXISTS orders (server TEXT, login INTEGER, ticket INTEGER, record TEXT NOT NULL,
                                   PRIMARY KEY (server, login, ticket));
CREATE TABLE IF NOT EXISTS history_orders (server TEXT, login INTEGER, ticket INTEGER, record TEXT NOT NULL,
                                           PRIMARY KEY (server, login, ticket));
CREATE TABLE IF NOT EXISTS deals (server TEXT, login INTEGER, ticket INTEGER, comment TEXT NOT NULL,
                                  profit REAL NOT NULL, record TEXT NOT NULL, PRIMARY KEY (server, login, ticket));
CREATE TABLE IF NOT EXISTS taken (server TEXT, login INTEGER, ticket INTEGER, PRIMARY KEY (server, login, ticket));
CREATE TABLE IF NOT EXISTS executions (id INTEGER PRIMARY KEY, server TEXT, login INTEGER, time_msc INTEGER,
                                       action INTEGER, retcode INTEGER, ticket_order INTEGER, ticket_deal INTEGER,
                                       comment TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS life (server TEXT, login INTEGER, processed_to INTEGER NOT NULL,
                                 PRIMARY KEY (server, login));
"""


def default_path() -> Path:
    """Where simulated terminals keep their trade servers unless told otherwise: one file per machine."""
    return Path(tempfile.gettempdir()) / DEFAULT_FILE_NAME


@dataclass(frozen=True)
class AccountState:
    """What the store holds for one account."""

    positions: tuple[TradePosition, ...] = ()
    orders: tuple[TradeOrder, ...] = ()  # pending
    history_orders: tuple[TradeOrder, ...] = ()  # empty when loaded without history
    deals: tuple[TradeDeal, ...] = ()
    taken: frozenset[int] = frozenset()  # generated-ledger tickets the store replaced or ended
    profit: float = 0.0  # realised: the sum of the deals' money (profit, swap, commission), in the balance
    processed_to: int | None = None  # the account has been played forward to this millisecond (server time)

    @property
    def lives(self) -> bool:
        """Whether the market's ticks can change it: the server holds positions or pending orders for it."""
        return bool(self.positions or self.orders)


class Execution(NamedTuple):
    """One accepted ``order_send`` (retcode 10009 or 10008), as the inspection API reports it."""

    server: str
    login: int
    time_msc: int
    action: int
    retcode: int
    order: int
    deal: int
    comment: str


@dataclass
class Changes:
    """What one ``order_send`` (or the server's own events) writes: records added or replaced, tickets removed, ledger
    tickets taken over, and the execution itself (``None`` for the server's events)."""

    execution: Execution | None
    positions: list[TradePosition] = field(default_factory=list)
    closed_positions: list[int] = field(default_factory=list)
    orders: list[TradeOrder] = field(default_factory=list)
    removed_orders: list[int] = field(default_factory=list)
    history_orders: list[TradeOrder] = field(default_factory=list)
    deals: list[TradeDeal] = field(default_factory=list)
    taken: list[int] = field(default_factory=list)


class TradeStore:
    """The trade servers' state in one SQLite file (``path``), or in memory for this object alone (``None``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()  # one connection per process, used by one thread at a time
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._cache: dict[tuple[str, int, bool], tuple[tuple[int, int], AccountState]] = {}
        self._writes = 0  # this connection's own commits (data_version counts only other connections')

    # --- the simulated trade server's use ---

    def load(self, server: str, login: int, *, history: bool = True) -> AccountState:
        """The account's state now (one consistent snapshot; cached until any connection writes). Without
        ``history`` its history orders and deals are left out (judging a request needs only the rest)."""
        with self._lock:
            conn = self._connection()
            version = (int(conn.execute("PRAGMA data_version").fetchone()[0]), self._writes)
            cached = self._cache.get((server, login, history)) or self._cache.get((server, login, True))
            if cached is not None and cached[0] == version:
                return cached[1]
            conn.execute("BEGIN")
            try:
                known = self._cache.get((server, login, True)) if history else None
                state = _read(conn, server, login, history=history, known=None if known is None else known[1])
            finally:
                conn.execute("COMMIT")
            self._cache[(server, login, history)] = (version, state)
            return state

    @contextmanager
    def session(self, server: str, login: int) -> Iterator[StoreSession]:
        """One atomic change of an account: the state under a write lock, then commit (or roll back on error)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: no other process decides on a stale state
            session = StoreSession(conn, server, login, _read(conn, server, login, history=False))
            try:
                yield session
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._writes += session.wrote  # a refused request wrote nothing: the cache stays good

    # --- read-only inspection (tests, the fault campaign) ---

    def deals(self, server: str, login: int) -> tuple[TradeDeal, ...]:
        """Every deal ``order_send`` made on the account, in ticket order."""
        return self.load(server, login).deals

    def executions(self, server: str | None = None, login: int | None = None) -> tuple[Execution, ...]:
        """Every accepted ``order_send`` (on one server, one account, or all), oldest first."""
        where, args = _where(server, login)
        with self._lock:
            rows = self._connection().execute(
                "SELECT server, login, time_msc, action, retcode, ticket_order, ticket_deal, comment FROM executions"
                f" WHERE 1 = 1{where} ORDER BY id",
                args,
            )
            return tuple(Execution(*row) for row in rows)

    def executions_by_comment(self, server: str | None = None, login: int | None = None) -> Counter[str]:
        """How many ``order_send`` requests were accepted (executed or placed), per request comment."""
        return Counter(e.comment for e in self.executions(server, login))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._cache = None, {}

    # --- internals ---

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._conn is not None and self._pid == pid:
            return self._conn
        # First use in this process (or in a forked child: the parent's connection is never touched again).
        self._cache = {}
        if self.path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a process's death loses nothing committed
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO tickets (id, next) VALUES (0, ?)", (FIRST_TICKET,))
        self._conn, self._pid = conn, pid
        return conn

    def __repr__(self) -> str:
        return f"<TradeStore {self.path or 'in memory'}>"


class StoreSession:
    """An account's state inside a write transaction, and the writes that go with it."""

    def __init__(self, conn: sqlite3.Connection, server: str, login: int, state: AccountState) -> None:
        self._conn, self._key, self.state = conn, (server, login), state
        self.wrote = False

    def reload(self) -> None:
        """Read the account's state again (after :meth:`apply`, inside the same transaction)."""
        self.state = _read(self._conn, *self._key, history=False)

    def processed(self, until_ms: int) -> None:
        """The account has been played forward to ``until_ms``."""
        self.wrote = True
        self._conn.execute("INSERT INTO life (server, login, processed_to) VALUES (?, ?, ?) ON CONFLICT (server, login)"
                           " DO UPDATE SET processed_to = MAX(processed_to, excluded.processed_to)",
                           (*self._key, until_ms))  # fmt: skip
        self.state = replace(self.state, processed_to=max(until_ms, self.state.processed_to or until_ms))

    def ticket(self) -> int:
        """A new ticket, unique on every simulated trade server (orders, deals and positions alike)."""
        (ticket,) = self._conn.execute("UPDATE tickets SET next = next + 1 WHERE id = 0 RETURNING next - 1").fetchone()
        return int(ticket)

    def apply(self, changes: Changes) -> None:
        key, conn = self._key, self._conn
        self.wrote = True
        conn.executemany("DELETE FROM positions WHERE server = ? AND login = ? AND ticket = ?",
                         [(*key, t) for t in changes.closed_positions])  # fmt: skip
        conn.executemany("DELETE FROM orders WHERE server = ? AND login = ? AND ticket = ?",
                         [(*key, t) for t in changes.removed_orders])  # fmt: skip
        for table, records in (("positions", changes.positions), ("orders", changes.orders),
                               ("history_orders", changes.history_orders)):  # fmt: skip
            conn.executemany(f"INSERT OR REPLACE INTO {table} (server, login, ticket, record) VALUES (?, ?, ?, ?)",
                             [(*key, r.ticket, _dump(r)) for r in records])  # fmt: skip
        conn.executemany(
            "INSERT INTO deals (server, login, ticket, comment, profit, record) VALUES (?, ?, ?, ?, ?, ?)",
            [(*key, d.ticket, d.comment, d.profit + d.swap + d.commission, _dump(d)) for d in changes.deals],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO taken (server, login, ticket) VALUES (?, ?, ?)",
            [(*key, t) for t in changes.taken if t < FIRST_TICKET],
        )  # fmt: skip (generated ones only)
        e = changes.execution
        if e is not None:
            conn.execute("INSERT INTO executions (server, login, time_msc, action, retcode, ticket_order, ticket_deal,"
                         " comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tuple(e))  # fmt: skip


def _read(conn: sqlite3.Connection, server: str, login: int, *, history: bool,
          known: AccountState | None = None) -> AccountState:  # fmt: skip
    """The account's state. The history tables only grow, each commit's tickets above every earlier commit's (they
    are drawn inside the write lock): with ``known`` (an earlier reading with history) only newer rows are read."""

    def records(table: str, kind: Any) -> tuple[Any, ...]:
        rows = conn.execute(f"SELECT record FROM {table} WHERE server = ? AND login = ? ORDER BY ticket", key)
        return tuple(kind(*json.loads(record)) for (record,) in rows)

    def history_of(table: str, kind: Any, before: tuple[Any, ...] | None) -> tuple[Any, ...]:
        (count,) = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE server = ? AND login = ?", key).fetchone()
        if before is None or len(before) > count:
            return records(table, kind)
        last = before[-1].ticket if before else -1
        rows = conn.execute(f"SELECT record FROM {table} WHERE server = ? AND login = ? AND ticket > ? ORDER BY"
                            " ticket", (*key, last))  # fmt: skip
        found = before + tuple(kind(*json.loads(record)) for (record,) in rows)
        return found if len(found) == count else records(table, kind)  # a row replaced: read it all again

    key = (server, login)
    taken = conn.execute("SELECT ticket FROM taken WHERE server = ? AND login = ?", key)
    total = conn.execute("SELECT COALESCE(SUM(profit), 0) FROM deals WHERE server = ? AND login = ?", key)
    (profit,) = total.fetchone()
    life = conn.execute("SELECT processed_to FROM life WHERE server = ? AND login = ?", key).fetchone()
    return AccountState(
        positions=records("positions", TradePosition),
        orders=records("orders", TradeOrder),
        history_orders=history_of("history_orders", TradeOrder, known.history_orders if known else None)
        if history
        else (),
        deals=history_of("deals", TradeDeal, known.deals if known else None) if history else (),
        taken=frozenset(ticket for (ticket,) in taken),
        profit=round(float(profit), 2),
        processed_to=None if life is None else int(life[0]),
    )


def _dump(record: Iterable[object]) -> str:
    return json.dumps(list(record), ensure_ascii=False)


def _where(server: str | None, login: int | None) -> tuple[str, tuple[object, ...]]:
    clauses = [(" AND server = ?", server), (" AND login = ?", login)]
    return "".join(c for c, v in clauses if v is not None), tuple(v for _, v in clauses if v is not None)
