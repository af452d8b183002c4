"""The service's task table: one declaration per ``mt5.*`` task, the interface every caller sees.

The tasks are not the SDK's functions one for one (``mt5.rates`` covers the three ``copy_rates_*`` forms,
``mt5.market_book`` adds, reads and releases a subscription, the ``*_total`` counts have no task), so each
:class:`TaskSpec` states its own name, parameters (with the types and defaults both clients show), result, routing,
the SDK functions it uses and its docstring. From it:

- the worker's read tasks are made (:mod:`mt5_worker.worker.tasks`); the others are written out there and in
  :mod:`mt5_worker.worker.trading_tasks`, and a test compares them with this table;
- the methods of :class:`~mt5_worker.client.MT5Client` and :class:`~mt5_worker.client.AsyncMT5Client` are
  generated (``make clients``; a test regenerates them and fails on a difference);
- the router's sets of account tasks and ordered tasks (:mod:`mt5_worker.fleet.routing`);
- a test that every market, account and trading SDK function is used by a task or listed in :data:`NOT_EXPOSED`.

No import beyond the standard library: callers in any process read it for free.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from typing import Any

REQUIRED = inspect.Parameter.empty
Date = str | int  # ISO 8601 (naive = UTC) or epoch seconds


class Routing(enum.Enum):
    ACCOUNT = "account"  # names a login: goes to the terminal that account sticks to (mt5_worker.fleet.routing)
    TERMINAL = "terminal"  # about one worker: the clients take a terminal_id (default: any worker)
    ANY = "any"  # any worker answers alike
    BROADCAST = "broadcast"  # every worker, from beat (not for clients)


@dataclass(frozen=True)
class Arg:
    """A task's parameter. ``type`` is its annotation in the clients' methods."""

    name: str
    type: str
    default: Any = REQUIRED
    keyword_only: bool = False  # after the clients' ``*``; left out of the message when None
    client_required: bool = False  # the clients ask for it though the task has a default (every form needs it)


# An account's credentials, last in every account read: optional once the worker holds a session for it.
CREDENTIALS = (
    Arg("password", "str | None", None, keyword_only=True),
    Arg("server", "str | None", None, keyword_only=True),
)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    args: tuple[Arg, ...]
    returns: str  # the result's annotation (JSON: records are objects, rates and ticks column-wise)
    doc: str
    routing: Routing
    sdk: tuple[str, ...] = ()  # the SDK functions it calls (beyond initialize and login, which any may)
    reader: str | None = None  # the runtime's method that answers it ("market.rates"): the task is made from it
    credentials: bool = False  # takes CREDENTIALS after its args
    ordered: bool = False  # an account's requests keep their order: never spilled to another terminal by load
    client: bool = True  # the clients have methods for it

    @property
    def method(self) -> str:
        """Its name in the clients and the worker's modules: ``mt5.rates`` -> ``rates``."""
        return self.name.removeprefix("mt5.")

    @property
    def params(self) -> tuple[Arg, ...]:
        """Every keyword argument the task takes, in its order."""
        return self.args + (CREDENTIALS if self.credentials else ())

    def signature(self) -> inspect.Signature:
        """The task function's signature after Celery's bound ``self``: every parameter by position or name."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        parameters = [inspect.Parameter(a.name, kind, default=a.default, annotation=a.type) for a in self.params]
        return inspect.Signature(parameters, return_annotation=self.returns)


def _args(*specs: tuple[Any, ...]) -> tuple[Arg, ...]:
    return tuple(Arg(*spec) for spec in specs)


_LOGIN = Arg("login", "int")
_SYMBOL = Arg("symbol", "str")
_FILTERS = _args(("symbol", "str | None", None, True), ("group", "str | None", None, True),
                 ("ticket", "int | None", None, True))  # fmt: skip
_HISTORY = _args(("date_from", "Date | None", None, True), ("date_to", "Date | None", None, True),
                 ("group", "str | None", None, True), ("ticket", "int | None", None, True),
                 ("position", "int | None", None, True))  # fmt: skip
_RECORD, _RECORDS, _COLUMNS = "dict[str, Any]", "list[dict[str, Any]]", "dict[str, list[Any]]"
_TICKET, _KEY = Arg("ticket", "int"), Arg("idempotency_key", "str")
# What the desk's calls may call: the trading checks, the account's state, the tag search, the order itself.
_DESK_SDK = (
    "terminal_info",
    "account_info",
    "positions_get",
    "orders_get",
    "history_orders_get",
    "history_deals_get",
    "symbol_info",
    "symbol_info_tick",
    "order_send",
)
_A, _T = Routing.ACCOUNT, Routing.TERMINAL
_HISTORY_FORMS = "``date_from`` + ``date_to`` (and ``group``), ``ticket`` or ``position``"

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("mt5.account_info", (_LOGIN, Arg("server", "str | None", None), Arg("password", "str | None", None)),
             _RECORD, "The account's ``AccountInfo`` fields; ``password``/``server`` may be omitted for a pooled "
             "session.", _A, ("account_info",)),
    TaskSpec("mt5.login", (_LOGIN, Arg("password", "str"), Arg("server", "str")), _RECORD,
             "Log ``login`` in (or switch to its pooled session); the session info, never the password.", _A,
             ("login",)),
    TaskSpec("mt5.health", (), _RECORD, "Whether a worker's terminal (``terminal_id``'s, or any) is initialized and "
             "connected; its info and version, the backend.", _T, ("terminal_info", "version")),
    TaskSpec("mt5.pool_stats", (), _RECORD, "A worker's pool metrics and the sessions Redis knows for it.", _T),
    # --- market data ---
    TaskSpec("mt5.symbols", (_LOGIN, Arg("group", "str | None", None)), _RECORDS,
             "``SymbolInfo`` records of the account's symbols, those matching ``group`` (``\"*USD*,!*JPY*\"``) if "
             "given.", _A, ("symbols_get",), "market.symbols", True),
    TaskSpec("mt5.symbol_info", (_LOGIN, _SYMBOL), _RECORD, "The symbol's ``SymbolInfo`` record.", _A,
             ("symbol_info",), "market.symbol_info", True),
    TaskSpec("mt5.symbol_tick", (_LOGIN, _SYMBOL), _RECORD, "The symbol's last ``Tick``.", _A,
             ("symbol_info_tick",), "market.symbol_tick", True),
    TaskSpec("mt5.rates", (_LOGIN, _SYMBOL, Arg("timeframe", "str | int"),
                           *_args(("start_pos", "int | None", None, True), ("date_from", "Date | None", None, True),
                                  ("date_to", "Date | None", None, True), ("count", "int | None", None, True))),
             _COLUMNS, "Bars, column-wise: ``start_pos`` + ``count``, ``date_from`` + ``count``, or ``date_from`` + "
             "``date_to``.", _A, ("copy_rates_from", "copy_rates_from_pos", "copy_rates_range"), "market.rates", True),
    TaskSpec("mt5.ticks", (_LOGIN, _SYMBOL, Arg("date_from", "Date | None", None, client_required=True),
                           *_args(("date_to", "Date | None", None, True), ("count", "int | None", None, True),
                                  ("flags", "str | int", "all", True))),
             _COLUMNS, "Ticks, column-wise: ``date_from`` + ``count`` or ``date_from`` + ``date_to``; flags all, "
             "info, trade.", _A, ("copy_ticks_from", "copy_ticks_range"), "market.ticks", True),
    TaskSpec("mt5.market_book", (_LOGIN, _SYMBOL), _RECORDS, "The symbol's depth of market: ``BookInfo`` records.",
             _A, ("market_book_add", "market_book_get", "market_book_release"), "market.market_book", True),
    # --- account reads ---
    TaskSpec("mt5.positions", (_LOGIN, *_FILTERS), _RECORDS, "Open positions (``TradePosition`` records), all or by "
             "one of ``symbol``, ``group`` or ``ticket``.", _A, ("positions_get",), "account.positions", True),
    TaskSpec("mt5.orders", (_LOGIN, *_FILTERS), _RECORDS, "Pending orders (``TradeOrder`` records), all or by one of "
             "``symbol``, ``group`` or ``ticket``.", _A, ("orders_get",), "account.orders", True),
    TaskSpec("mt5.history_deals", (_LOGIN, *_HISTORY), _RECORDS, f"``TradeDeal`` records: {_HISTORY_FORMS}.", _A,
             ("history_deals_get",), "account.history_deals", True),
    TaskSpec("mt5.history_orders", (_LOGIN, *_HISTORY), _RECORDS, f"Historical ``TradeOrder`` records: "
             f"{_HISTORY_FORMS}.", _A, ("history_orders_get",), "account.history_orders", True),
    TaskSpec("mt5.order_calc_margin", (_LOGIN, Arg("action", "str | int"), _SYMBOL, Arg("volume", "float"),
                                       Arg("price", "float")), "float",
             "The margin of an order (``\"buy\"``/``\"sell\"``...), in the account's currency.", _A,
             ("order_calc_margin",), "account.order_calc_margin", True),
    TaskSpec("mt5.order_calc_profit", (_LOGIN, Arg("action", "str | int"), _SYMBOL, Arg("volume", "float"),
                                       Arg("price_open", "float"), Arg("price_close", "float")), "float",
             "The profit of a ``\"buy\"`` or ``\"sell\"`` between two prices, in the account's currency.", _A,
             ("order_calc_profit",), "account.order_calc_profit", True),
    TaskSpec("mt5.order_check", (_LOGIN, Arg("request", "dict[str, Any]")), _RECORD, "The ``OrderCheckResult`` of a "
             "trade request (``retcode`` 0 when it would be accepted); nothing is sent.", _A, ("order_check",),
             "account.order_check", True),
    # --- trading ---
    TaskSpec("mt5.order_send", (_LOGIN, Arg("request", "dict[str, Any]"), Arg("idempotency_key", "str")), _RECORD,
             """Send a trade request at most once per ``(login, idempotency_key)`` (needs ``MT5_TRADING_ENABLED=true``
on the workers). The ``OrderSendResult`` fields plus ``idempotency_key`` and ``source`` (``"sent"``, ``"recorded"``:
an earlier call's outcome, ``"reconciled"``: found in the account after a failure). Any server ``retcode`` is an
answer (10009 done, 10008 placed). On a timeout or an ``OrderOutcomeUnknownError``, call again with the same key: it
never sends twice.

>>> client.order_send(10000001, {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy",
...                              "type_filling": "ioc"}, idempotency_key="order-2026-0001")["retcode"]
10009""", _A, ("terminal_info", "account_info", "order_send", "positions_get", "orders_get", "history_orders_get",
               "history_deals_get"), credentials=True, ordered=True),
    TaskSpec("mt5.close_position", (_LOGIN, _TICKET, _KEY, Arg("volume", "float | None", None, True),
                                    Arg("deviation", "int", 20, True)), _RECORD,
             """Close position ``ticket`` (``volume`` lots of it, or all) at the current price, at most once per
``(login, idempotency_key)`` like ``order_send``: the opposite type, Bid (closing a buy) or Ask, a filling mode the
symbol allows, ``deviation`` points of slippage accepted. The answer is ``order_send``'s; a position already closed
answers ``retcode`` 10036 without sending anything.""", _A, _DESK_SDK, credentials=True, ordered=True),
    TaskSpec("mt5.close_positions", (_LOGIN, _KEY, Arg("symbol", "str | None", None, True),
                                     Arg("magic", "int | None", None, True)), _RECORD,
             """Close the account's open positions (those of ``symbol``, of ``magic``, or all) under one idempotency
key: the positions are the ones its first attempt found, and each close is sent at most once under its own key
``<idempotency_key>/<ticket>``. Answers ``{"idempotency_key", "login", "positions", "results"}``, ``results`` being
each close's ``order_send`` answer (with its own key).""", _A, _DESK_SDK, credentials=True, ordered=True),
    TaskSpec("mt5.modify_position", (_LOGIN, _TICKET, Arg("sl", "float"), Arg("tp", "float"), _KEY), _RECORD,
             "Set position ``ticket``'s stop loss and take profit (0: none), at most once per ``(login, "
             "idempotency_key)``; the answer is ``order_send``'s (10036: the position is closed).", _A, _DESK_SDK,
             credentials=True, ordered=True),
    TaskSpec("mt5.cancel_order", (_LOGIN, _TICKET, _KEY), _RECORD, "Remove pending order ``ticket``, at most once per "
             "``(login, idempotency_key)``; the answer is ``order_send``'s.", _A, _DESK_SDK, credentials=True,
             ordered=True),
    TaskSpec("mt5.order_result", (_LOGIN, Arg("idempotency_key", "str")), _RECORD, "The record of an order's key: "
             "``state`` ``\"none\"``, ``\"pending\"`` or ``\"done\"``, and ``result``.", Routing.ANY),
    # --- the fleet ---
    TaskSpec("mt5.evict_idle", (), "list[int]", "Log out this worker's sessions idle past "
             "``MT5_CONNECTION_IDLE_TIMEOUT``; the terminal stays up.", Routing.BROADCAST, client=False),
)  # fmt: skip

BY_NAME: dict[str, TaskSpec] = {task.name: task for task in TASKS}

# The market, account and trading SDK functions no task uses, and why.
NOT_EXPOSED: dict[str, str] = {
    "symbols_total": "a count: mt5.symbols answers the list itself",
    "orders_total": "a count: mt5.orders answers the list itself",
    "positions_total": "a count: mt5.positions answers the list itself",
    "history_orders_total": "a count: mt5.history_orders answers the list itself",
    "history_deals_total": "a count: mt5.history_deals answers the list itself",
    "symbol_select": "changes the terminal's Market Watch, which every account of the worker shares",
}


def given(**values: Any) -> dict[str, Any]:
    """The keyword-only arguments a client sends: those given (not None), as the tasks' defaults are None."""
    return {name: value for name, value in values.items() if value is not None}
