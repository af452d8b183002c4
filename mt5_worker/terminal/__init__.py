"""The terminal port and its adapters; :func:`create_terminal` builds the one ``MT5_BACKEND`` names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mt5_worker.terminal.base import AccountInfo, Terminal, TerminalInfo

if TYPE_CHECKING:
    from mt5_worker.config import Settings

__all__ = ["AccountInfo", "Terminal", "TerminalInfo", "create_terminal"]


def create_terminal(settings: Settings) -> Terminal:
    """The adapter for ``settings.backend``; imports only that adapter's dependencies."""
    if settings.backend == "metatrader5":
        from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal

        return MetaTrader5Terminal()
    if settings.backend == "bridge":
        from mt5_worker.terminal.bridge import BridgeTerminal

        return BridgeTerminal.from_settings(settings)
    from mt5_worker.terminal.simulator import SimulatedTerminal

    return SimulatedTerminal.from_settings(settings)
