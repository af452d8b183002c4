"""The terminal adapter ``MT5_BACKEND`` names, built from the settings: the one place where settings meet the
terminal layer, so adapters take plain constructor arguments and never read settings themselves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings, env_name
from mt5_worker.terminal.port import Terminal
from mt5_worker.terminal.simulator import SimulatedTerminal
from mt5_worker.terminal.specs import AccountSpec, load_accounts
from mt5_worker.terminal.trade_store import default_path


def create_terminal(settings: Settings) -> Terminal:
    """The adapter for ``settings.backend``; imports only that adapter's dependencies."""
    if settings.backend == "metatrader5":
        from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal

        return MetaTrader5Terminal()
    if settings.backend == "bridge":
        return bridge_terminal(settings)
    return simulated_terminal(settings)


def simulated_terminal(
    settings: Settings,
    accounts: Iterable[AccountSpec] | None = None,
    latency: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> SimulatedTerminal:
    """A simulator as ``MT5_SIMULATOR_*`` describe it, or with other ``accounts`` or ``latency``; ``kwargs``
    (``sleep=``, ``clock=``) go to its constructor."""
    if accounts is None and settings.simulator_accounts:
        accounts = load_accounts(settings.simulator_accounts)
    return SimulatedTerminal(
        accounts,
        latency=settings.simulator_latency if latency is None else latency,
        faults=settings.simulator_faults,
        seed=settings.simulator_seed,
        crash_every=settings.simulator_crash_every,
        clock_offset=settings.simulator_clock_offset,
        tick_rate=settings.simulator_tick_rate,
        trade_store=simulator_trade_store(settings),
        disable_algo_on_switch=settings.simulator_disable_algo_on_switch,
        **kwargs,
    )


def simulator_trade_store(settings: Settings) -> Path:
    """The simulated trade servers' file: ``MT5_SIMULATOR_TRADE_STORE``, else one per machine in the temp directory
    (as real terminals share their real server)."""
    return settings.simulator_trade_store or default_path()


def bridge_terminal(settings: Settings) -> Terminal:
    """A client of the bridge at ``MT5_BRIDGE_HOST``:``MT5_BRIDGE_PORT``; bad bridge settings stop start-up."""
    from mt5_worker.terminal.bridge import BridgeTerminal

    if settings.bridge_token is None or not settings.bridge_token.get_secret_value():
        raise SettingsError(
            f"MT5_BACKEND=bridge needs {env_name('bridge_token')}: the token `mt5-worker bridge` was started with"
        )
    try:
        return BridgeTerminal(
            settings.bridge_host,
            settings.bridge_port,
            settings.bridge_token,
            timeout=settings.bridge_timeout,
            certfile=settings.bridge_certfile,
        )
    except ValueError as exc:
        raise SettingsError(f"{env_name('bridge_token')}: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{env_name('bridge_certfile')}: cannot load {settings.bridge_certfile}: {exc}") from None
