"""The SDK's enumerations the market (and later trading) side needs, with the ``MetaTrader5`` module's names and values.

Plain integers, so callers can pass them to any adapter and compare results without importing the SDK (which
exists only for Windows). Sources are named per group; docs/sdk-market-data.md lists them with their URLs.
"""

from __future__ import annotations

# --- TIMEFRAME: the `timeframe` argument of copy_rates_* ------------------------------------------------------
# Names: mt5copyratesfrom_py (its TIMEFRAME table). Values: the wheel's __init__.py, as quoted by peers' stubs
# (minutes below H1; 0x4000 | hours for H1..D1; 0x8000 | 1 for W1; 0xC000 | 1 for MN1).
TIMEFRAME_M1 = 1
TIMEFRAME_M2 = 2
TIMEFRAME_M3 = 3
TIMEFRAME_M4 = 4
TIMEFRAME_M5 = 5
TIMEFRAME_M6 = 6
TIMEFRAME_M10 = 10
TIMEFRAME_M12 = 12
TIMEFRAME_M15 = 15
TIMEFRAME_M20 = 20
TIMEFRAME_M30 = 30
TIMEFRAME_H1 = 0x4000 | 1  # 16385
TIMEFRAME_H2 = 0x4000 | 2  # 16386
TIMEFRAME_H3 = 0x4000 | 3  # 16387
TIMEFRAME_H4 = 0x4000 | 4  # 16388
TIMEFRAME_H6 = 0x4000 | 6  # 16390
TIMEFRAME_H8 = 0x4000 | 8  # 16392
TIMEFRAME_H12 = 0x4000 | 12  # 16396
TIMEFRAME_D1 = 0x4000 | 24  # 16408
TIMEFRAME_W1 = 0x8000 | 1  # 32769
TIMEFRAME_MN1 = 0xC000 | 1  # 49153

# Every timeframe, with its name: what the simulator accepts as a `timeframe` argument.
TIMEFRAMES: dict[int, str] = {
    TIMEFRAME_M1: "M1",
    TIMEFRAME_M2: "M2",
    TIMEFRAME_M3: "M3",
    TIMEFRAME_M4: "M4",
    TIMEFRAME_M5: "M5",
    TIMEFRAME_M6: "M6",
    TIMEFRAME_M10: "M10",
    TIMEFRAME_M12: "M12",
    TIMEFRAME_M15: "M15",
    TIMEFRAME_M20: "M20",
    TIMEFRAME_M30: "M30",
    TIMEFRAME_H1: "H1",
    TIMEFRAME_H2: "H2",
    TIMEFRAME_H3: "H3",
    TIMEFRAME_H4: "H4",
    TIMEFRAME_H6: "H6",
    TIMEFRAME_H8: "H8",
    TIMEFRAME_H12: "H12",
    TIMEFRAME_D1: "D1",
    TIMEFRAME_W1: "W1",
    TIMEFRAME_MN1: "MN1",
}

# --- COPY_TICKS: the `flags` argument of copy_ticks_* ---------------------------------------------------------
# Names and meaning: mt5copyticksfrom_py (COPY_TICKS table). Values: the wheel's __init__.py.
COPY_TICKS_ALL = -1
COPY_TICKS_INFO = 1  # ticks with Bid and/or Ask changes
COPY_TICKS_TRADE = 2  # ticks with Last and/or Volume changes

# --- TICK_FLAG: the `flags` column of a tick ------------------------------------------------------------------
# Names: mt5copyticksfrom_py (TICK_FLAG table). Values: the wheel's __init__.py (MQL5 TICK_FLAG_* bit values).
TICK_FLAG_BID = 0x02
TICK_FLAG_ASK = 0x04
TICK_FLAG_LAST = 0x08
TICK_FLAG_VOLUME = 0x10
TICK_FLAG_BUY = 0x20
TICK_FLAG_SELL = 0x40

# --- SymbolInfo.trade_mode (ENUM_SYMBOL_TRADE_MODE) -----------------------------------------------------------
# MQL5 reference, "Symbol Properties" (symbol_trade_mode); values: the wheel's __init__.py.
SYMBOL_TRADE_MODE_DISABLED = 0
SYMBOL_TRADE_MODE_LONGONLY = 1
SYMBOL_TRADE_MODE_SHORTONLY = 2
SYMBOL_TRADE_MODE_CLOSEONLY = 3
SYMBOL_TRADE_MODE_FULL = 4

# --- SymbolInfo.trade_exemode (ENUM_SYMBOL_TRADE_EXECUTION) ---------------------------------------------------
# MQL5 reference, "Symbol Properties"; values: the wheel's __init__.py.
SYMBOL_TRADE_EXECUTION_REQUEST = 0
SYMBOL_TRADE_EXECUTION_INSTANT = 1
SYMBOL_TRADE_EXECUTION_MARKET = 2
SYMBOL_TRADE_EXECUTION_EXCHANGE = 3

# --- SymbolInfo.trade_calc_mode (ENUM_SYMBOL_CALC_MODE) -------------------------------------------------------
# MQL5 reference, "Symbol Properties" (symbol_calc_mode); values: the wheel's __init__.py.
SYMBOL_CALC_MODE_FOREX = 0
SYMBOL_CALC_MODE_FUTURES = 1
SYMBOL_CALC_MODE_CFD = 2
SYMBOL_CALC_MODE_CFDINDEX = 3
SYMBOL_CALC_MODE_CFDLEVERAGE = 4
SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE = 5
SYMBOL_CALC_MODE_EXCH_STOCKS = 32
SYMBOL_CALC_MODE_EXCH_FUTURES = 33
SYMBOL_CALC_MODE_EXCH_OPTIONS = 34
SYMBOL_CALC_MODE_EXCH_OPTIONS_MARGIN = 36
SYMBOL_CALC_MODE_EXCH_BONDS = 37
SYMBOL_CALC_MODE_EXCH_STOCKS_MOEX = 38
SYMBOL_CALC_MODE_EXCH_BONDS_MOEX = 39
SYMBOL_CALC_MODE_SERV_COLLATERAL = 64

# --- SymbolInfo.chart_mode (ENUM_SYMBOL_CHART_MODE): bars are built from Bid (0) or Last (1) prices -------------
SYMBOL_CHART_MODE_BID = 0
SYMBOL_CHART_MODE_LAST = 1

# --- SymbolInfo.filling_mode: a bit mask of the fillings a symbol allows --------------------------------------
# MQL5 reference, "Symbol Properties" (SYMBOL_FILLING_MODE flags). The Python module does NOT export these names
# (peers checked dir(MetaTrader5) on 5.0.6180: only ORDER_FILLING_*): they are MQL5 values, kept here because the
# SymbolInfo field is this bit mask. There is no SYMBOL_FILLING_RETURN: Return is allowed by execution mode.
SYMBOL_FILLING_FOK = 1
SYMBOL_FILLING_IOC = 2
SYMBOL_FILLING_BOC = 4

# --- AccountInfo.trade_mode (ENUM_ACCOUNT_TRADE_MODE): a demo, contest or real account ------------------------
# MQL5 "Account Properties"; values: the wheel's __init__.py.
ACCOUNT_TRADE_MODE_DEMO = 0
ACCOUNT_TRADE_MODE_CONTEST = 1
ACCOUNT_TRADE_MODE_REAL = 2

# --- BookInfo.type (ENUM_BOOK_TYPE) -----------------------------------------------------------------------------
# mt5marketbookget_py (its example shows type 1 for asks, 2 for bids); values: the wheel's __init__.py.
BOOK_TYPE_SELL = 1
BOOK_TYPE_BUY = 2
BOOK_TYPE_SELL_MARKET = 3
BOOK_TYPE_BUY_MARKET = 4

# --- ORDER_TYPE (ENUM_ORDER_TYPE): the `type` of a trade request; also order_calc_margin's `action` ----------
# mt5ordersend_py / MQL5 "Order Properties"; values: the wheel's __init__.py.
ORDER_TYPE_BUY = 0
ORDER_TYPE_SELL = 1
ORDER_TYPE_BUY_LIMIT = 2
ORDER_TYPE_SELL_LIMIT = 3
ORDER_TYPE_BUY_STOP = 4
ORDER_TYPE_SELL_STOP = 5
ORDER_TYPE_BUY_STOP_LIMIT = 6
ORDER_TYPE_SELL_STOP_LIMIT = 7
ORDER_TYPE_CLOSE_BY = 8

# --- ORDER_FILLING (ENUM_ORDER_TYPE_FILLING): a request's `type_filling` ---------------------------------------
# MQL5 "Order Properties"; values: the wheel's __init__.py (note: 0-based, unlike the SYMBOL_FILLING_* bits).
ORDER_FILLING_FOK = 0
ORDER_FILLING_IOC = 1
ORDER_FILLING_RETURN = 2
ORDER_FILLING_BOC = 3

# --- ORDER_TIME (ENUM_ORDER_TYPE_TIME): a request's `type_time` ------------------------------------------------
ORDER_TIME_GTC = 0
ORDER_TIME_DAY = 1
ORDER_TIME_SPECIFIED = 2
ORDER_TIME_SPECIFIED_DAY = 3

# --- TRADE_ACTION (ENUM_TRADE_REQUEST_ACTIONS): a request's `action` ------------------------------------------
# mt5ordersend_py / MQL5 "Trade Operation Types"; values: the wheel's __init__.py.
TRADE_ACTION_DEAL = 1
TRADE_ACTION_PENDING = 5
TRADE_ACTION_SLTP = 6
TRADE_ACTION_MODIFY = 7
TRADE_ACTION_REMOVE = 8
TRADE_ACTION_CLOSE_BY = 10


def timeframe_seconds(timeframe: int) -> int | None:
    """The length of a fixed-length timeframe in seconds (M1..W1); ``None`` for MN1 and unknown values."""
    if timeframe not in TIMEFRAMES or timeframe == TIMEFRAME_MN1:
        return None
    if timeframe == TIMEFRAME_W1:
        return 7 * 86400
    if timeframe & 0x4000:
        return (timeframe & 0xFF) * 3600
    return timeframe * 60


# --- the account side (MQL5 "Trade Constants"; values: the wheel's __init__.py) -------------------------------
POSITION_TYPE_BUY = 0
POSITION_TYPE_SELL = 1

ORDER_STATE_STARTED = 0
ORDER_STATE_PLACED = 1
ORDER_STATE_CANCELED = 2
ORDER_STATE_PARTIAL = 3
ORDER_STATE_FILLED = 4
ORDER_STATE_REJECTED = 5
ORDER_STATE_EXPIRED = 6

DEAL_TYPE_BUY = 0
DEAL_TYPE_SELL = 1
DEAL_TYPE_BALANCE = 2

DEAL_ENTRY_IN = 0
DEAL_ENTRY_OUT = 1
DEAL_ENTRY_INOUT = 2
DEAL_ENTRY_OUT_BY = 3

# ORDER_REASON_* / DEAL_REASON_* / POSITION_REASON_* (the first values are shared; dealproperties, orderproperties):
# placed from the desktop terminal, a mobile app, the web, an expert (or the API); then the server's own doings: a
# Stop Loss, a Take Profit or a Stop Out activated.
REASON_CLIENT = 0
REASON_MOBILE = 1
REASON_WEB = 2
REASON_EXPERT = 3
REASON_SL = 4
REASON_TP = 5
REASON_SO = 6

# Trade server return codes (MQL5 "Trade Server Return Codes", enum_trade_return_codes). order_check answers 0
# ("Done") for a request it would accept (the mt5ordercheck_py example output).
TRADE_RETCODE_CHECK_OK = 0
TRADE_RETCODE_REQUOTE = 10004
TRADE_RETCODE_REJECT = 10006
TRADE_RETCODE_PLACED = 10008
TRADE_RETCODE_DONE = 10009
TRADE_RETCODE_INVALID = 10013
TRADE_RETCODE_INVALID_VOLUME = 10014
TRADE_RETCODE_INVALID_PRICE = 10015
TRADE_RETCODE_INVALID_STOPS = 10016
TRADE_RETCODE_TRADE_DISABLED = 10017
TRADE_RETCODE_MARKET_CLOSED = 10018
TRADE_RETCODE_NO_MONEY = 10019
TRADE_RETCODE_PRICE_CHANGED = 10020
TRADE_RETCODE_INVALID_EXPIRATION = 10022
TRADE_RETCODE_NO_CHANGES = 10025
TRADE_RETCODE_SERVER_DISABLES_AT = 10026
TRADE_RETCODE_CLIENT_DISABLES_AT = 10027
TRADE_RETCODE_INVALID_FILL = 10030
TRADE_RETCODE_POSITION_CLOSED = 10036
TRADE_RETCODE_INVALID_CLOSE_VOLUME = 10038
TRADE_RETCODE_LONG_ONLY = 10042
TRADE_RETCODE_SHORT_ONLY = 10043
TRADE_RETCODE_CLOSE_ONLY = 10044
