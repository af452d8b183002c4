"""The terminal port, and the real adapter over the ``MetaTrader5`` module:

- :mod:`.functions`: the SDK table: one declaration per function (parameters, result, side), which the adapters,
  the bridge and the simulator derive their code from, and the function sets;
- :mod:`.port`: the typed :class:`Terminal` protocol, checked against the table by a test;
- :mod:`.records`: the SDK's result records as named tuples (no numpy);
- :mod:`.arrays`: the columns of bars and ticks, numpy structured arrays;
- :mod:`.constants`: the SDK's enumerations (timeframes, tick flags, order types, retcodes, ...);
- :mod:`.metatrader5`: the adapter over the real module (Windows only, imported lazily).

The other adapters have packages of their own (:mod:`mt5_worker.bridge`, :mod:`mt5_worker.simulator`);
:mod:`mt5_worker.backends` builds the one ``MT5_BACKEND`` names.
"""

from mt5_worker.terminal.port import AccountInfo, Terminal, TerminalInfo

__all__ = ["AccountInfo", "Terminal", "TerminalInfo"]
