"""The bridge's start-up refusals and the bridge client built from settings, in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mt5_worker.backends import create_terminal
from mt5_worker.bridge.server import build_server, main
from mt5_worker.bridge.terminal import BridgeTerminal
from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings

NO_IPC = (-10004, "No IPC connection")


def test_bridge_refuses_unsafe_or_incomplete_setups(
    settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="MT5_BRIDGE_TOKEN must be set"):
        build_server(settings_factory(), "simulator", port=0)
    with pytest.raises(SettingsError, match="only for the simulator backend"):
        build_server(settings_factory(bridge_token="t"), "metatrader5", allow_simulator_control=True, port=0)
    with pytest.raises(SettingsError, match="MT5_BRIDGE_KEYFILE"):
        build_server(settings_factory(bridge_token="t", bridge_certfile=tmp_path / "c.pem"), "simulator", port=0)
    with pytest.raises(SettingsError, match="MT5_BACKEND=bridge needs MT5_BRIDGE_TOKEN"):
        create_terminal(settings_factory(backend="bridge"))
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["--backend", "simulator", "--port", "0"]) == 2  # no token
    monkeypatch.setenv("MT5_BRIDGE_TOKEN", "t")
    assert main(["--backend", "metatrader5", "--port", "0", "--allow-simulator-control"]) == 2
    assert main(["--backend", "metatrader5", "--port", "0"]) == 2  # no MetaTrader5 package on this platform


def test_create_terminal_builds_a_bridge_client_from_settings() -> None:
    token = "tok-3f9a-secret"
    settings = Settings.load(_env_file=None, backend="bridge", bridge_token=token, bridge_port=1)
    terminal = create_terminal(settings)
    assert isinstance(terminal, BridgeTerminal) and terminal.backend == "bridge"
    assert token not in repr(terminal)
    assert (terminal.initialize(), terminal.last_error()) == (False, NO_IPC)  # nothing listens on port 1
