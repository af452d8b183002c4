"""The terminal port (:mod:`~mt5_worker.terminal.port`) and its adapters: the real ``MetaTrader5`` module,
the bridge client, and the simulator with its specs. ``mt5_worker.manager.terminals`` builds the one
``MT5_BACKEND`` names."""

from mt5_worker.terminal.port import AccountInfo, Terminal, TerminalInfo

__all__ = ["AccountInfo", "Terminal", "TerminalInfo"]
