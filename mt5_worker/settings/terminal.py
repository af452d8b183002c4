"""The terminal's side of the settings: which adapter serves the port and how the real terminal starts
(:class:`TerminalSettings`); what the simulator, a feed and a bridge are given, with the checks of their lists of
names (:class:`SimulatorFeedBridgeSettings`). :class:`~mt5_worker.settings.Settings` combines them with the
service's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from mt5_worker.settings.names import SYMBOL_NAME, _alias


class TerminalSettings(BaseSettings):
    """Which adapter a process uses, and how the real terminal is started."""

    backend: Literal["simulator", "metatrader5", "bridge"] = _alias(
        "MT5_BACKEND", "terminal adapter: simulator, metatrader5 (Windows) or bridge", "simulator"
    )
    terminal_path: str | None = _alias("MT5_TERMINAL_PATH", "path to terminal64.exe", None)
    terminal_portable: bool = _alias("MT5_TERMINAL_PORTABLE", "start the terminal with /portable", False)
    terminal_timeout_ms: int = _alias(
        "MT5_TERMINAL_TIMEOUT", "initialize/login timeout in ms (1-600000)", 60000, ge=1, le=600_000
    )


class SimulatorFeedBridgeSettings(BaseSettings):
    """What the simulated terminal, a feed and a bridge are given."""

    simulator_accounts: Path | None = _alias(
        "MT5_SIMULATOR_ACCOUNTS", "JSON file listing the simulator's accounts (default: demo accounts)", None
    )
    # The simulator's own values stay text here (the settings know nothing of the simulator): the backend chooser
    # parses them, and a bad one stops start-up all the same (mt5_worker.backends.check_settings).
    simulator_latency: str = _alias(
        "MT5_SIMULATOR_LATENCY", "'zero', 'realistic' or a JSON object of seconds per function", "zero"
    )
    simulator_faults: str = _alias(
        "MT5_SIMULATOR_FAULTS", 'JSON object: function -> {"fail_first": N, "rate": p, "code": C, "after": false}', "{}"
    )
    simulator_seed: int | None = _alias("MT5_SIMULATOR_SEED", "seed for simulated faults", None)
    simulator_crash_every: int = _alias(
        "MT5_SIMULATOR_CRASH_EVERY",
        "the simulated terminal crashes on every N-th account_info call until initialize() (0 = never)",
        0,
        ge=0,
    )
    simulator_clock_offset: float = _alias(
        "MT5_SIMULATOR_CLOCK_OFFSET",
        "seconds added to this machine's clock to give the simulated trade servers' time; give every process of a"
        " deployment (workers, bridges, feeds) the same value so they see one market (tests and the demo pin market"
        " hours with it; +-3155760000, a century)",
        0.0,
        ge=-3_155_760_000,
        le=3_155_760_000,
    )
    simulator_tick_rate: float | None = _alias(
        "MT5_SIMULATOR_TICK_RATE",
        "mean ticks per second per symbol while it trades, in bursts; every process of a deployment must use the same"
        " (unset: each symbol's own quieter rate, evenly spread; 0.01-10000)",
        None,
        ge=0.01,
        le=10_000,
    )
    simulator_trade_store: Path | None = _alias(
        "MT5_SIMULATOR_TRADE_STORE",
        "SQLite file of the simulated trade servers, shared by every simulated terminal naming it (default:"
        " mt5-worker-simulated-trade-servers.sqlite3 in the system's temporary directory)",
        None,
    )
    simulator_disable_algo_on_switch: bool = _alias(
        "MT5_SIMULATOR_DISABLE_ALGO_ON_SWITCH",
        "the simulated terminal turns Algo Trading off when login() changes the account (order_send: 10027)",
        False,
    )
    simulator_deviations: Annotated[tuple[str, ...], NoDecode] = _alias(
        "MT5_SIMULATOR_DEVIATIONS",
        "comma-separated SDK facts the simulated terminal gets wrong on purpose, to prove that `mt5-worker conformance`"
        " can fail; tests only (the names: DEVIATIONS in simulator/specs.py)",
        (),
    )

    feed_login: int | None = _alias(
        "MT5_FEED_LOGIN", "the account whose terminal a feed reads its trade server's market data with", None
    )
    feed_password: SecretStr | None = _alias(
        "MT5_FEED_PASSWORD", "that account's password (its investor, read-only password is enough)", None
    )
    feed_server: str | None = _alias("MT5_FEED_SERVER", "the trade server a feed serves", None)
    feed_symbols: Annotated[tuple[str, ...], NoDecode] = _alias(
        "MT5_FEED_SYMBOLS", "comma-separated symbols a feed always serves (others while someone subscribes)", ()
    )
    feed_poll_interval: float = _alias(
        "MT5_FEED_POLL_INTERVAL", "seconds between a feed's polls of the terminal for new ticks (0.001-10)", 0.02,
        ge=0.001, le=10,
    )  # fmt: skip
    feed_lease: float = _alias(
        "MT5_FEED_LEASE",
        "seconds a feed's leadership lasts unless renewed; a standby feed takes over after it (0.5-300)",
        3.0,
        ge=0.5,
        le=300,
    )
    stream_retention: int = _alias(
        "MT5_STREAM_RETENTION",
        "seconds of ticks and bars the streams keep, in the trade server's time; older ones are trimmed (60-2592000)",
        3600,
        ge=60,
        le=30 * 86400,
    )

    bridge_host: str = _alias("MT5_BRIDGE_HOST", "bridge address", "127.0.0.1")
    bridge_port: int = _alias("MT5_BRIDGE_PORT", "bridge TCP port (1-65535)", 18812, ge=1, le=65535)
    bridge_token: SecretStr | None = _alias("MT5_BRIDGE_TOKEN", "shared secret bridge clients present", None)
    bridge_timeout: float = _alias("MT5_BRIDGE_TIMEOUT", "seconds per bridge call (> 0)", 120.0, gt=0)
    bridge_certfile: Path | None = _alias("MT5_BRIDGE_CERTFILE", "TLS certificate for the bridge", None)
    bridge_keyfile: Path | None = _alias("MT5_BRIDGE_KEYFILE", "TLS key for the bridge", None)
    bridge_backend: Literal["metatrader5", "simulator"] = _alias(
        "MT5_BRIDGE_BACKEND",
        "adapter the bridge serves: metatrader5 or simulator",
        "metatrader5" if sys.platform == "win32" else "simulator",
    )

    @field_validator("feed_symbols", "simulator_deviations", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("feed_symbols")
    @classmethod
    def _symbol_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not SYMBOL_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"invalid symbol name(s) {bad}: 1-64 letters, digits or ._#+-/@&!$")
        return tuple(dict.fromkeys(value))

    @field_validator("feed_server")
    @classmethod
    def _empty_server_is_unset(cls, value: str | None) -> str | None:
        return value or None
