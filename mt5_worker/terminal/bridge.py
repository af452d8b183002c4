"""Client adapter for a terminal served by ``mt5-worker bridge`` (issue #4; not implemented yet)."""

from __future__ import annotations

from mt5_worker.config import Settings, SettingsError
from mt5_worker.terminal.base import Terminal


class BridgeTerminal:
    @classmethod
    def from_settings(cls, settings: Settings) -> Terminal:
        raise SettingsError("MT5_BACKEND=bridge is not implemented yet; use MT5_BACKEND=simulator")
