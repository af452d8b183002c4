"""The simulated symbols: each one's contract and the parameters of its price process."""

from __future__ import annotations

from dataclasses import dataclass

from mt5_worker.terminal import constants as c


@dataclass(frozen=True)
class SymbolSpec:
    """A simulated symbol's contract and the parameters of its price process."""

    name: str
    description: str
    path: str
    digits: int
    price: float  # the level prices wander around
    hourly_vol: float  # relative standard deviation of a one-hour move
    spread: int  # typical spread in points
    contract_size: float
    volume_min: float
    volume_max: float
    volume_step: float
    currency_base: str
    currency_profit: str
    currency_margin: str
    calc_mode: int
    filling_mode: int  # SYMBOL_FILLING_* bits
    exemode: int = c.SYMBOL_TRADE_EXECUTION_MARKET
    trade_mode: int = c.SYMBOL_TRADE_MODE_FULL
    always_open: bool = False  # crypto trades every hour of the week
    selected: bool = True  # in Market Watch when the terminal starts
    ticks_per_hour: int = 900  # mean extra ticks per hour on top of the minimum, before the activity curve
    swap_long: float = 0.0  # points per lot per rollover (SYMBOL_SWAP_MODE_POINTS)
    swap_short: float = 0.0
    stops_level: int = 0
    commission: float = 0.0  # per lot on each deal, in the profit currency (a group setting on real servers)

    @property
    def point(self) -> float:
        return round(10.0**-self.digits, self.digits)


SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("EURUSD", "Euro vs US Dollar", "Forex\\EURUSD", 5, 1.0850, 0.0011, 12, 100_000.0, 0.01, 500.0, 0.01,
               "EUR", "USD", "EUR", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK,
               exemode=c.SYMBOL_TRADE_EXECUTION_INSTANT, swap_long=-7.2, swap_short=2.1),
    SymbolSpec("GBPUSD", "Great Britain Pound vs US Dollar", "Forex\\GBPUSD", 5, 1.2700, 0.0013, 15, 100_000.0, 0.01,
               500.0, 0.01, "GBP", "USD", "GBP", c.SYMBOL_CALC_MODE_FOREX,
               c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC, swap_long=-3.4, swap_short=-1.9),
    SymbolSpec("USDJPY", "US Dollar vs Japanese Yen", "Forex\\USDJPY", 3, 150.00, 0.0012, 14, 100_000.0, 0.01, 500.0,
               0.01, "USD", "JPY", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_IOC,
               swap_long=11.3, swap_short=-24.6),
    SymbolSpec("USDCHF", "US Dollar vs Swiss Franc", "Forex\\USDCHF", 5, 0.8800, 0.0011, 16, 100_000.0, 0.01, 500.0,
               0.01, "USD", "CHF", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("AUDUSD", "Australian Dollar vs US Dollar", "Forex\\AUDUSD", 5, 0.6600, 0.0014, 14, 100_000.0, 0.01,
               500.0, 0.01, "AUD", "USD", "AUD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("EURGBP", "Euro vs Great Britain Pound", "Forex\\EURGBP", 5, 0.8550, 0.0008, 18, 100_000.0, 0.01,
               500.0, 0.01, "EUR", "GBP", "EUR", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK, selected=False),
    SymbolSpec("XAUUSD", "Gold vs US Dollar", "Metals\\XAUUSD", 2, 2350.00, 0.0022, 30, 100.0, 0.01, 100.0, 0.01,
               "XAU", "USD", "USD", c.SYMBOL_CALC_MODE_FOREX, c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC,
               swap_long=-45.1, swap_short=22.8, stops_level=10, commission=3.0),
    SymbolSpec("US500", "US 500 Cash Index", "Indices\\US500", 2, 5200.00, 0.0018, 50, 1.0, 0.1, 100.0, 0.1,
               "USD", "USD", "USD", c.SYMBOL_CALC_MODE_CFDLEVERAGE, c.SYMBOL_FILLING_IOC, ticks_per_hour=1200,
               commission=0.5),
    SymbolSpec("BTCUSD", "Bitcoin vs US Dollar", "Crypto\\BTCUSD", 2, 65_000.00, 0.0065, 2500, 1.0, 0.01, 10.0, 0.01,
               "BTC", "USD", "USD", c.SYMBOL_CALC_MODE_CFD, c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC,
               always_open=True, ticks_per_hour=600),
)  # fmt: skip
