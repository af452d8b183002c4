"""The SDK facts the service relies on, each once: its name, the page that states it, its source, what the service
expects, the check that tests it against a terminal, and, where the simulator models it differently on purpose,
that documented simplification.

Everything else follows this table: ``mt5-worker conformance`` runs the checks in this order; each page's list of
checked facts is generated from it (``make docs``, :mod:`mt5_worker.conformance.doc_tables`), and
``tests/unit/test_conformance_docs.py`` fails when a page names a check that is not here, when a fact here is not
named on its page, or when a page marks a fact unverified without naming its check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mt5_worker.conformance import account_checks as a
from mt5_worker.conformance import connection_checks as cn
from mt5_worker.conformance import market_data_checks as md
from mt5_worker.conformance import market_failure_checks as mf
from mt5_worker.conformance import trading_checks as t
from mt5_worker.conformance.context import Context, Observation

NOTES, MARKET, TRADING, SERVICE = "sdk-notes.md", "sdk-market-data.md", "sdk-trading.md", "trading.md"
PAGES = (NOTES, MARKET, TRADING, SERVICE)


@dataclass(frozen=True)
class Fact:
    """One SDK fact and its check.

    ``trading``: the check places orders or switches accounts (only with ``--trading``). ``needs``: ``"sdk"`` when it
    calls the SDK's functions with arguments the port cannot pass, ``"module"`` when it reads the ``MetaTrader5``
    module itself: neither is possible through the bridge. ``simplification``: how the simulator models the fact
    differently, documented; on a simulator, a check that does not hold counts as that, not as a difference.
    """

    name: str
    page: str
    source: str
    expects: str
    check: Callable[[Context], Observation]
    simplification: str = ""
    trading: bool = False
    needs: str = ""


FACTS: tuple[Fact, ...] = (
    # --- the connection (sdk-notes.md) ---
    Fact("version-shape", NOTES, "the docs (`mt5version_py`)",
         "`version()` answers `(500, build, 'DD Mon YYYY')`", cn.version_shape),
    Fact("account-info-fields", NOTES, "the docs (`mt5accountinfo_py`), the wheel's struct table",
         "`AccountInfo`: the 28 fields in the SDK's order, each of its type", cn.account_info_fields),
    Fact("terminal-info-fields", NOTES, "the docs (`mt5terminalinfo_py`), the wheel's struct table",
         "`TerminalInfo`: the 22 fields in the SDK's order, each of its type", cn.terminal_info_fields),
    Fact("error-slot-reset", NOTES, "the wheel",
         "every call resets `last_error()`: a call that succeeds after one that failed leaves `(1, 'Success')`",
         cn.error_slot_reset),
    Fact("no-connection", NOTES, "the wheel (the docs' table says -10003)",
         "after `shutdown()`, `account_info`, `terminal_info`, `version` and `symbols_total` answer `None` with "
         "`(-10004, 'No IPC connection')`", cn.no_connection),
    # --- the market side (sdk-market-data.md) ---
    Fact("sdk-constants", MARKET, "the wheel's `__init__.py`, as peers' stubs quote it",
         "every enumeration the port names has the module's value (where the module exports it)",
         cn.sdk_constants, needs="module"),
    Fact("symbol-info-unknown", MARKET, "field report (MetaQuotes-Demo, 2026-09)",
         "`symbol_info` of an unknown symbol: `None`, `(-4, 'Terminal: Not found')`", mf.symbol_info_unknown),
    Fact("symbol-functions-unknown", MARKET, "none: a choice, like `symbol_info`",
         "`symbol_info_tick`, `symbol_select`, `market_book_*` of an unknown symbol: `None`/`False`, -4",
         mf.symbol_functions_unknown),
    Fact("tick-outside-market-watch", MARKET, "`None`: issue thread (pymt5adapter #9, 2020); the code: a choice",
         "`symbol_info_tick` of a symbol not in Market Watch: `None`, `(-1, 'Terminal: Call failed')`",
         mf.tick_outside_market_watch),
    Fact("rates-unknown-symbol", MARKET, "two field reports (MetaQuotes-Demo; XMGlobal)",
         "`copy_rates_*` of an unknown symbol: `None`, `(-1, 'Terminal: Call failed')`", mf.rates_unknown_symbol),
    Fact("ticks-unknown-symbol", MARKET, "none: a choice, like `copy_rates_*`",
         "`copy_ticks_*` of an unknown symbol: `None`, -1", mf.ticks_unknown_symbol),
    Fact("book-without-subscription", MARKET, "none: a choice",
         "`market_book_get`/`market_book_release` without `market_book_add`: `None`/`False`, -1",
         mf.book_without_subscription),
    Fact("rates-past-maxbars", MARKET, "the pages (`mt5copyratesfrom_py`); field report (\"older bars beyond "
         "offset 100,000\")", "`copy_rates_from_pos` at position `terminal_info().maxbars`: `None`, -1",
         mf.rates_past_maxbars),
    Fact("rates-before-history", MARKET, "none: a choice, like `copy_rates_from_pos`",
         "`copy_rates_from`/`copy_rates_range` before the oldest bar held: `None`, -1", mf.rates_before_history),
    Fact("empty-ranges", MARKET, "none: a choice",
         "a range without bars or ticks (an FX Saturday): an empty array and `(1, 'Success')`", mf.empty_ranges),
    Fact("keyword-dates", MARKET, "peers' issue trackers",
         "a date passed by keyword: `None`, `(-2, 'Invalid parameters')`", mf.keyword_dates, needs="sdk"),
    Fact("argument-count", MARKET, "the wheel's text for `initialize`, assumed for the data functions",
         "too few or too many arguments: `None`, `(-2, 'Invalid number of arguments')`", mf.argument_count,
         needs="sdk"),
    Fact("argument-types", MARKET, "the wheel's pattern for the connection functions",
         "a timeframe as text, a date as a float or as text: `None`, `(-2, 'Invalid \"<name>\" argument')`",
         mf.argument_types),
    Fact("argument-values", MARKET, "none: a choice",
         "a timeframe that is no `TIMEFRAME_*`, `count` < 1, `start_pos` < 0, other tick `flags`: `None`, "
         "`(-2, 'Invalid \"<name>\" argument')`", mf.argument_values),
    Fact("symbol-info-fields", MARKET, "the pages (`mt5symbolselect_py`'s example, 96 rows), recorded outputs",
         "`SymbolInfo`: the 96 fields in order, each of its type (a newer module's extra fields are not needed)",
         md.symbol_info_fields),
    Fact("tick-fields", MARKET, "the pages (`mt5symbolinfotick_py`'s example)",
         "`Tick`: `time, bid, ask, last, volume, time_msc, flags, volume_real`", md.tick_fields),
    Fact("rates-columns", MARKET, "the pages (`mt5copyratesfrom_py`), recorded outputs",
         "bars: `time <i8, open high low close <f8, tick_volume <u8, spread <i4, real_volume <u8`, rows in time order",
         md.rates_columns),
    Fact("ticks-columns", MARKET, "the pages' example output, recorded outputs",
         "ticks: `time <i8, bid ask last <f8, volume <u8, time_msc <i8, flags <u4, volume_real <f8`",
         md.ticks_columns),
    Fact("server-clock", MARKET, "field reports (the trade server's wall clock, not UTC as the pages say)",
         "ticks, bars and date arguments share the trade server's clock; its offset from this machine's is read "
         "from the last tick, never assumed to be 0", md.server_clock),
    Fact("tick-range-bounds", MARKET, "`mql5.com/en/docs/series/copyticksrange`; where `date_to` ends: unverified",
         "`copy_ticks_range(symbol, a, b)` holds every tick from second `a` to the start or the end of second `b`",
         md.tick_range_bounds),
    Fact("rates-from-at-or-before", MARKET, "the pages (`mt5copyratesfrom_py`)",
         "`copy_rates_from` answers bars opening at or before the date, the last one the bar that holds it",
         md.rates_from_at_or_before),
    Fact("rates-range-inclusive", MARKET, "the pages (`mt5copyratesrange_py`)",
         "`copy_rates_range` answers the bars opening in `[date_from, date_to]`, both ends included",
         md.rates_range_inclusive),
    Fact("bars-from-ticks", MARKET, "the MQL5 symbol properties (Bid bars when `chart_mode` is 0; tick counts)",
         "an M1 bar is its minute's ticks: Bid open, high, low and close, and their count", md.bars_from_ticks),
    Fact("bar-spread-minimum", MARKET, "community consensus",
         "an M1 bar's `spread` is the smallest of its ticks' spreads, in points", md.bar_spread_minimum),
    Fact("d1-bars-weekdays", MARKET, "field reports (most FX servers keep New York + 7 h)",
         "D1 bars open at the server's midnight, Monday to Friday: no Sunday bar", md.d1_bars_weekdays,
         simplification="the simulated servers keep UTC, where FX opens on Sunday at 22:00: a short Sunday bar"),
    # --- the account side (sdk-market-data.md) ---
    Fact("trade-record-fields", MARKET, "the pages' example outputs (`mt5positionsget_py`, `mt5ordersget_py`, "
         "`mt5historyordersget_py`, `mt5historydealsget_py`)",
         "`TradePosition` (19 fields), `TradeOrder` (24), `TradeDeal` (18): in order, each of its type",
         a.trade_record_fields),
    Fact("empty-results", MARKET, "none: a choice",
         "no position, order or deal matches: `()` and `(1, 'Success')`, not `None`", a.empty_results),
    Fact("calc-unknown-symbol", MARKET, "none: a choice",
         "`order_calc_margin`/`order_calc_profit` of an unknown symbol: `None`, -1", a.calc_unknown_symbol),
    Fact("order-check-accepts", MARKET, "the page (`mt5ordercheck_py`'s example)",
         "a request the server would take: retcode 0, comment `Done`, the request echoed", a.order_check_accepts),
    Fact("order-check-bad-request", MARKET, "the wheel's pattern for other arguments",
         "an unknown key or a value of the wrong type: `None`, `(-2, 'Invalid \"request\" argument')`",
         a.order_check_bad_request),
    Fact("order-check-comment-limit", MARKET, "none: a choice, like `order_send`",
         "27 characters pass; past the limit: `None`, `(-2, 'Invalid \"comment\" argument')`, not cut",
         a.order_check_comment_limit),
    # --- the connection, again: it reconnects (last of the read-only checks) ---
    Fact("restart-last-account", NOTES, "the docs (`mt5initialize_py`)",
         "`initialize()` without an account after `shutdown()` attaches to the terminal's last account",
         cn.restart_on_last_account),
    # --- trading (sdk-trading.md, trading.md): --trading only ---
    Fact("order-send-roundtrip", TRADING, "the page (`mt5ordersend_py`), `mqltraderesult`",
         "the smallest market buy: 10009 with its deal, order, volume and a request id; the position's ticket is "
         "the order's; the closing deal: 10009, the position gone", t.order_send_roundtrip, trading=True),
    Fact("comment-kept", TRADING, "MQL4's `OrderSend` (\"Last part of the comment may be changed by server\"); "
         "peers' reports of servers that rewrite comments",
         "the tag at the start of a 27-character comment stays on the order, the deal and the position",
         t.comment_kept, trading=True),
    Fact("filling-modes", TRADING, "the MQL5 symbol properties; peers' trackers",
         "FOK and IOC by the symbol's `filling_mode` bits, RETURN in every execution mode but Market: they "
         "execute; the others: 10030", t.filling_modes_check, trading=True),
    Fact("order-send-comment-limit", TRADING, "field reports (a limit of 28 to 31 characters by build)",
         "27 characters pass; past the terminal's limit: `None`, `(-2, 'Invalid \"comment\" argument')`, not cut",
         t.order_send_comment_limit, trading=True),
    Fact("order-send-request-unnamed", TRADING, "the page (\"required unnamed parameter\"); the text peers saw for "
         "dates", "`order_send(request=...)`: `None`, `(-2, 'Invalid parameters')`", t.order_send_request_unnamed,
         trading=True, needs="sdk"),
    Fact("reconciliation-finds", SERVICE, "what the facts above add up to: comments kept, deals in the history",
         "an order the service sent is found again by its tag: the same deal and order", t.reconciliation_finds,
         trading=True),
    Fact("algo-after-switch", TRADING, "a recorded result (10027); `order_check`'s answer: unverified",
         "after `login()` switches the account, Algo Trading stays on (the terminal option is off), or `order_send` "
         "and `order_check` answer retcode 10027 (a result, not `None`)", t.algo_after_switch, trading=True),
)  # fmt: skip

BY_NAME: dict[str, Fact] = {fact.name: fact for fact in FACTS}
