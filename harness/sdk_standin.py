"""A stand-in for the ``MetaTrader5`` module: the simulator behind the SDK's module-level functions, answering with
the kinds of values the module answers, so that the real adapter (``terminal/metatrader5.py``) runs in the suite
as it runs on Windows.

What the module answers, and so this stand-in:

- records are the module's own types, not this package's named tuples: tuples with a field per attribute and
  ``_asdict()`` (the SDK's struct sequences), of classes that live in module ``MetaTrader5`` and that pickle cannot
  find there, so anything that lets one travel unconverted fails as it would on Windows;
- bars and ticks are numpy structured arrays;
- a failing call answers ``None`` (``False`` for the flags) and leaves the reason in ``last_error()``;
- the enumerations (``TIMEFRAME_M1``, ``ORDER_TYPE_BUY``, ...) are module attributes, the SDK's values, except the
  ``SYMBOL_FILLING_*`` bits, which the wheel does not export.

:func:`standin` makes one over a simulator. ``harness/standin/MetaTrader5`` is an importable ``MetaTrader5``
package that builds its simulator from the process's settings (``MT5_SIMULATOR_*``) on its first call, for a
process started with ``MT5_BACKEND=metatrader5`` and :data:`STANDIN_PATH` on its ``PYTHONPATH``. Beyond the SDK it
has ``enable_algo_trading()``, the simulator's button, which a real module lacks.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from mt5_worker.simulator import SimulatedTerminal
from mt5_worker.terminal import constants, records
from mt5_worker.terminal.functions import FUNCTIONS

# The directory to put on a process's PYTHONPATH so that ``import MetaTrader5`` finds the stand-in.
STANDIN_PATH = Path(__file__).resolve().parent / "standin"
VERSION = "5.0.4755"  # the stand-in module's __version__: the simulator's build
_NOT_EXPORTED = ("SYMBOL_FILLING_",)  # MQL5 values the wheel does not export (terminal/constants.py)


def _sdk_record(record: type[NamedTuple]) -> type[tuple[Any, ...]]:
    """The module's own record type with ``record``'s name and fields (a struct sequence, as far as Python sees)."""
    name, fields = record.__name__, record._fields

    def asdict(self: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(fields, self, strict=True))

    def describe(self: tuple[Any, ...]) -> str:
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in zip(fields, self, strict=True))})"

    def refuse(self: tuple[Any, ...]) -> Any:
        raise TypeError(f"cannot pickle 'MetaTrader5.{name}' object")

    namespace: dict[str, Any] = {f: property(operator.itemgetter(i)) for i, f in enumerate(fields)}
    namespace |= {"__slots__": (), "__module__": "MetaTrader5", "n_fields": len(fields), "n_sequence_fields":
                  len(fields), "__match_args__": fields, "_asdict": asdict, "__repr__": describe,
                  "__reduce__": refuse, "__reduce_ex__": lambda self, protocol: refuse(self)}  # fmt: skip
    return type(name, (tuple,), namespace)


SDK_RECORDS: dict[type[Any], type[tuple[Any, ...]]] = {
    record: _sdk_record(record)
    for record in (records.AccountInfo, records.TerminalInfo, records.SymbolInfo, records.Tick, records.BookInfo,
                   records.TradeOrder, records.TradePosition, records.TradeDeal, records.OrderCheckResult,
                   records.OrderSendResult, records.TradeRequest)
}  # fmt: skip


def sdk_value(value: Any) -> Any:
    """What the module answers where the simulator answers ``value``: records (and a result's nested request) as
    the module's types; tuples of records as tuples of those; everything else as it is."""
    kind = SDK_RECORDS.get(type(value))
    if kind is not None:
        return kind(sdk_value(item) for item in value)
    if type(value) is tuple and value and type(value[0]) in SDK_RECORDS:
        return tuple(sdk_value(item) for item in value)
    return value


def standin(terminal: SimulatedTerminal | Callable[[], SimulatedTerminal], name: str = "MetaTrader5") -> ModuleType:
    """A ``MetaTrader5`` module over ``terminal`` (or over the simulator ``terminal()`` builds on the first call)."""
    get: Callable[[], SimulatedTerminal] = (
        (lambda: terminal) if isinstance(terminal, SimulatedTerminal) else functools.cache(terminal)
    )
    module = ModuleType(name, "A stand-in for the MetaTrader5 module: the simulator (harness/sdk_standin.py).")
    for function in FUNCTIONS:
        setattr(module, function, _function(get, function))
    for constant in dir(constants):
        if constant.isupper() and not constant.startswith(_NOT_EXPORTED):
            setattr(module, constant, getattr(constants, constant))
    module.enable_algo_trading = lambda: get().enable_algo_trading()  # type: ignore[attr-defined]
    module.__version__ = VERSION  # type: ignore[attr-defined]
    module.__author__ = "mt5-worker's harness"  # type: ignore[attr-defined]
    return module


def from_settings() -> ModuleType:
    """The stand-in over a simulator built, on its first call, from this process's settings (as the backend chooser
    builds one for ``MT5_BACKEND=simulator``)."""
    from mt5_worker.backends import simulated_terminal
    from mt5_worker.settings import Settings

    return standin(lambda: simulated_terminal(Settings.load()))


def _function(get: Callable[[], SimulatedTerminal], name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return sdk_value(getattr(get(), name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    return call
