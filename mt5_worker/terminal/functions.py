"""The SDK table: one declaration per function of the port, with the ``MetaTrader5`` module's conventions.

Each :class:`FunctionSpec` says what the SDK's page says: the parameters with their names, kinds and defaults
(dates and symbols are unnamed, so positional only; filters are named, so keyword only), what the function
returns, and its side (connection, market, account, trading). Everything else is derived from it or checked
against it:

- the typed :class:`~mt5_worker.terminal.port.Terminal` protocol stays written out (IDEs, mypy); a test compares
  it with this table, and the simulator's methods too;
- the real adapter (:mod:`~mt5_worker.terminal.metatrader5`) and the bridge (both ends) make their methods, their
  argument passing and their result conversions from it (:func:`port_method`);
- the simulator parses the arguments of its data functions by it (``SimulatorParts._data_arguments``);
- the function sets below, which settings (latencies, faults) and the service's task table refer to.

Adding an SDK function starts here: docs/architecture.md, "Add an SDK function".
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mt5_worker.terminal.records import (
    AccountInfo,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)

POSITIONAL = inspect.Parameter.POSITIONAL_ONLY  # "required/optional unnamed parameter"
EITHER = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY  # a named filter
REQUIRED = inspect.Parameter.empty
OMITTED: Any = ...  # an optional parameter with no value of its own: left out, the SDK applies its default


class Side(enum.Enum):
    CONNECTION = "connection"  # the terminal and the account it is logged into
    MARKET = "market"  # read-only data that takes symbols (docs/sdk-market-data.md)
    ACCOUNT = "account"  # read-only: orders, positions, history, margin/profit calculation, order_check
    TRADING = "trading"  # changes an account (docs/sdk-trading.md)


@dataclass(frozen=True)
class Param:
    """One parameter, as the port declares it. ``type`` is the annotation's text (``Date``: a datetime or epoch
    seconds; ``dict[str, object]``: a trade request)."""

    name: str
    type: str
    kind: inspect._ParameterKind = POSITIONAL
    default: Any = REQUIRED
    unnamed: bool = False  # the SDK takes it positionally although the port also accepts it by name

    @property
    def sdk_positional(self) -> bool:
        """The SDK gets it without its name: unnamed on its page, or required."""
        return self.kind is POSITIONAL or self.unnamed or (self.kind is EITHER and self.default is REQUIRED)

    def parameter(self) -> inspect.Parameter:
        return inspect.Parameter(self.name, self.kind, default=self.default, annotation=self.type)


@dataclass(frozen=True)
class Returns:
    """What a function answers on success; on failure every function answers ``None`` but the ``bool`` ones,
    which answer ``False`` (``last_error`` never fails)."""

    kind: str  # bool, int, float, version, error, record, records, array
    record: type[NamedTuple] | None = None  # for record / records
    nested: type[NamedTuple] | None = None  # a record whose last field is the request it answers
    array: str | None = None  # for array: "rates" or "ticks" (mt5_worker.terminal.arrays.DTYPES)

    @property
    def annotation(self) -> str:
        name = self.record.__name__ if self.record is not None else ""
        return {
            "bool": "bool",
            "int": "int | None",
            "float": "float | None",
            "version": "tuple[int, int, str] | None",
            "error": "tuple[int, str]",
            "record": f"{name} | None",
            "records": f"tuple[{name}, ...] | None",
            "array": "Records | None",
        }[self.kind]

    @property
    def failure(self) -> object:
        return False if self.kind == "bool" else None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    side: Side
    params: tuple[Param, ...]
    returns: Returns
    doc: str
    _signature: inspect.Signature = field(init=False, repr=False, compare=False)
    # Each parameter's type by name: asked on every call that crosses the bridge, at both ends.
    param_types: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # As Python declares a method: ``self`` is positional-only when other parameters before a ``/`` are.
        first = POSITIONAL if any(p.kind is POSITIONAL for p in self.params) else EITHER
        parameters = [inspect.Parameter("self", first), *(p.parameter() for p in self.params)]
        object.__setattr__(self, "_signature", inspect.Signature(parameters, return_annotation=self.returns.annotation))
        object.__setattr__(self, "param_types", {p.name: p.type for p in self.params})

    @property
    def signature(self) -> inspect.Signature:
        """The port method's signature, ``self`` first, annotations as text."""
        return self._signature

    @property
    def positional(self) -> tuple[Param, ...]:
        """The parameters a call may pass by position, in order."""
        return tuple(p for p in self.params if p.kind is not KEYWORD)

    @property
    def keywords(self) -> tuple[str, ...]:
        """The names a call may pass by keyword."""
        return tuple(p.name for p in self.params if p.kind is not POSITIONAL)


def _symbol() -> Param:
    return Param("symbol", "str")


def _filters(*names: str) -> tuple[Param, ...]:
    types = {"symbol": "str", "group": "str", "ticket": "int", "position": "int"}
    return tuple(Param(name, types[name], KEYWORD, OMITTED) for name in names)


_DATES = (Param("date_from", "Date"), Param("date_to", "Date"))
_OPTIONAL_DATES = (Param("date_from", "Date", default=OMITTED), Param("date_to", "Date", default=OMITTED))
_REQUEST = (Param("request", "dict[str, object]"),)
_RATES = Returns("array", array="rates")
_TICKS = Returns("array", array="ticks")
_TIMEOUT = Param("timeout", "int", KEYWORD, 60000)
_C, _M, _A, _T = Side.CONNECTION, Side.MARKET, Side.ACCOUNT, Side.TRADING

# In the order of the port (mt5_worker.terminal.port.Terminal) and of the SDK's reference pages.
SPECS: tuple[FunctionSpec, ...] = (
    FunctionSpec("initialize", _C, (
        Param("path", "str | None", EITHER, None, unnamed=True),
        Param("login", "int | None", KEYWORD, None),
        Param("password", "str | None", KEYWORD, None),
        Param("server", "str | None", KEYWORD, None),
        _TIMEOUT,
        Param("portable", "bool", KEYWORD, False),
    ), Returns("bool"), "Start or attach to the terminal (logging into an account if one is given)."),
    FunctionSpec("login", _C, (
        Param("login", "int", EITHER),
        Param("password", "str | None", EITHER, None),
        Param("server", "str | None", EITHER, None),
        _TIMEOUT,
    ), Returns("bool"), "Make an account the terminal's active one."),
    FunctionSpec("shutdown", _C, (), Returns("bool"), "Close the connection to the terminal."),
    FunctionSpec("account_info", _C, (), Returns("record", AccountInfo), "The active account's properties."),
    FunctionSpec("terminal_info", _C, (), Returns("record", TerminalInfo), "The terminal's state and settings."),
    FunctionSpec("version", _C, (), Returns("version"), "The terminal's version, build and build date."),
    FunctionSpec("last_error", _C, (), Returns("error"), "The result of the latest call: (code, message)."),
    # --- the market side ---
    FunctionSpec("symbols_total", _M, (), Returns("int"), "How many symbols the trade server offers."),
    FunctionSpec("symbols_get", _M, (Param("group", "str", EITHER, OMITTED),), Returns("records", SymbolInfo),
                 "The symbols, those a group mask selects if given."),
    FunctionSpec("symbol_info", _M, (_symbol(),), Returns("record", SymbolInfo), "One symbol's properties."),
    FunctionSpec("symbol_info_tick", _M, (_symbol(),), Returns("record", Tick), "One symbol's last tick."),
    FunctionSpec("symbol_select", _M, (_symbol(), Param("enable", "bool", EITHER, True, unnamed=True)),
                 Returns("bool"), "Add a symbol to Market Watch, or remove it."),
    FunctionSpec("market_book_add", _M, (_symbol(),), Returns("bool"), "Subscribe to a symbol's Depth of Market."),
    FunctionSpec("market_book_get", _M, (_symbol(),), Returns("records", BookInfo),
                 "A subscribed symbol's Depth of Market."),
    FunctionSpec("market_book_release", _M, (_symbol(),), Returns("bool"),
                 "End a Depth of Market subscription."),
    FunctionSpec("copy_rates_from", _M, (_symbol(), Param("timeframe", "int"), _DATES[0], Param("count", "int")),
                 _RATES, "Bars ending at a date."),
    FunctionSpec("copy_rates_from_pos", _M, (_symbol(), Param("timeframe", "int"), Param("start_pos", "int"),
                                             Param("count", "int")), _RATES, "Bars counted back from a bar."),
    FunctionSpec("copy_rates_range", _M, (_symbol(), Param("timeframe", "int"), *_DATES), _RATES,
                 "Bars between two dates."),
    FunctionSpec("copy_ticks_from", _M, (_symbol(), _DATES[0], Param("count", "int"), Param("flags", "int")),
                 _TICKS, "Ticks from a date on."),
    FunctionSpec("copy_ticks_range", _M, (_symbol(), *_DATES, Param("flags", "int")), _TICKS,
                 "Ticks between two dates."),
    # --- the account side ---
    FunctionSpec("orders_total", _A, (), Returns("int"), "How many pending orders the account has."),
    FunctionSpec("orders_get", _A, _filters("symbol", "group", "ticket"), Returns("records", TradeOrder),
                 "The pending orders: all, or by symbol, group mask or ticket."),
    FunctionSpec("positions_total", _A, (), Returns("int"), "How many positions the account has open."),
    FunctionSpec("positions_get", _A, _filters("symbol", "group", "ticket"), Returns("records", TradePosition),
                 "The open positions: all, or by symbol, group mask or ticket."),
    FunctionSpec("history_orders_total", _A, _DATES, Returns("int"), "How many orders the history holds in a range."),
    FunctionSpec("history_orders_get", _A, (*_OPTIONAL_DATES, *_filters("group", "ticket", "position")),
                 Returns("records", TradeOrder), "Past orders: by dates (and group), ticket or position."),
    FunctionSpec("history_deals_total", _A, _DATES, Returns("int"), "How many deals the history holds in a range."),
    FunctionSpec("history_deals_get", _A, (*_OPTIONAL_DATES, *_filters("group", "ticket", "position")),
                 Returns("records", TradeDeal), "Deals: by dates (and group), ticket or position."),
    FunctionSpec("order_calc_margin", _A, (Param("action", "int"), _symbol(), Param("volume", "float"),
                                           Param("price", "float")), Returns("float"),
                 "The margin an order would take, in the account's currency."),
    FunctionSpec("order_calc_profit", _A, (Param("action", "int"), _symbol(), Param("volume", "float"),
                                           Param("price_open", "float"), Param("price_close", "float")),
                 Returns("float"), "The profit of a trade between two prices, in the account's currency."),
    FunctionSpec("order_check", _A, _REQUEST, Returns("record", OrderCheckResult, TradeRequest),
                 "Whether the trade server would accept a trade request, and the margin it would take."),
    # --- trading ---
    FunctionSpec("order_send", _T, _REQUEST, Returns("record", OrderSendResult, TradeRequest),
                 "Send a trade request to the trade server."),
)  # fmt: skip

BY_NAME: dict[str, FunctionSpec] = {spec.name: spec for spec in SPECS}


def _names(side: Side) -> tuple[str, ...]:
    return tuple(spec.name for spec in SPECS if spec.side is side)


CONNECTION_FUNCTIONS = _names(Side.CONNECTION)
MARKET_FUNCTIONS = _names(Side.MARKET)
ACCOUNT_FUNCTIONS = _names(Side.ACCOUNT)
TRADE_FUNCTIONS = _names(Side.TRADING)
# The port's functions, by name: what latency and fault settings may refer to.
FUNCTIONS = tuple(spec.name for spec in SPECS)


def port_method(spec: FunctionSpec, run: Callable[[Any, FunctionSpec, dict[str, Any]], Any]) -> Callable[..., Any]:
    """A method with ``spec``'s signature that calls ``run(self, spec, arguments)``: the arguments by name, the
    defaults of the port applied, omitted ones (``OMITTED``) absent. A call the signature refuses raises
    ``TypeError``, as a written-out method would."""
    signature = spec.signature
    names, tails = _positional_shortcuts(signature)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) < len(tails) and (tail := tails[len(args)]) is not None:
            # The common call, by position only with every required parameter given: what ``bind`` and
            # ``apply_defaults`` would give, without their cost on every call (a bridge call is ~100 us).
            if not args:
                return run(self, spec, dict(tail))
            given = {k: v for k, v in zip(names, args, strict=False) if v is not OMITTED}
            return run(self, spec, given | tail)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {k: v for k, v in bound.arguments.items() if k != "self" and v is not OMITTED}
        return run(self, spec, arguments)

    method.__name__ = method.__qualname__ = spec.name
    method.__doc__ = spec.doc
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def _positional_shortcuts(signature: inspect.Signature) -> tuple[tuple[str, ...], list[dict[str, Any] | None]]:
    """For a call with ``k`` arguments by position and none by name: the names they bind to (``names[:k]``), and
    ``tails[k]``, the defaults of every later parameter (``OMITTED`` ones left out), in the signature's order,
    or ``None`` when one of them is required (``bind`` then raises the ``TypeError``)."""
    params = list(signature.parameters.values())[1:]  # without self
    positional = [p for p in params if p.kind in (POSITIONAL, EITHER)]
    if any(p.kind not in (POSITIONAL, EITHER, KEYWORD) for p in params):  # *args or **kwargs: bind decides
        return (), []
    tails: list[dict[str, Any] | None] = []
    for k in range(len(positional) + 1):
        rest = params[k:]  # keyword-only parameters come after the positional ones
        required = any(p.default is REQUIRED for p in rest)
        tails.append(None if required else {p.name: p.default for p in rest if p.default is not OMITTED})
    return tuple(p.name for p in positional), tails


def install_port_methods(cls: type, run: Callable[[Any, FunctionSpec, dict[str, Any]], Any]) -> None:
    """Give ``cls`` a :func:`port_method` for every function it does not define itself."""
    for spec in SPECS:
        if spec.name not in cls.__dict__:
            setattr(cls, spec.name, port_method(spec, run))
