"""The one place that chooses a terminal backend from the settings and builds it: the worker's manager and the
bridge server both get their terminal here, so adapters take plain constructor arguments and never read settings.

Each adapter is imported only when chosen: a worker on the real SDK or the bridge never loads the simulator (nor
numpy, nor SQLite). :func:`check_settings` parses the chosen backend's own values without building anything, so a
bad one stops start-up (the worker's first bootstep, ``mt5-worker worker``, the bridge) with a ``SettingsError``
naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings, env_name
from mt5_worker.terminal.port import Terminal

if TYPE_CHECKING:
    from mt5_worker.simulator import SimulatedTerminal
    from mt5_worker.simulator.specs import AccountSpec, FaultSpec

BACKENDS = ("simulator", "metatrader5", "bridge")


def create_terminal(settings: Settings, backend: str | None = None) -> Terminal:
    """The adapter ``backend`` names (default ``MT5_BACKEND``); imports only that adapter's dependencies."""
    backend = backend or settings.backend
    if backend == "metatrader5":
        from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal

        return cast(Terminal, MetaTrader5Terminal())  # its port methods are made from the SDK table
    if backend == "bridge":
        return bridge_terminal(settings)
    if backend == "simulator":
        return simulated_terminal(settings)
    raise SettingsError(f"{env_name('backend')}: expected one of {list(BACKENDS)}, got {backend!r}")


def check_settings(settings: Settings, backend: str | None = None) -> None:
    """Raise ``SettingsError`` naming the variable if the values of ``backend`` (default ``MT5_BACKEND``) are bad;
    builds nothing."""
    if (backend or settings.backend) == "simulator":
        simulator_options(settings)


def simulated_terminal(
    settings: Settings, *, accounts: Iterable[Mapping[str, Any]] | None = None, **overrides: Any
) -> SimulatedTerminal:
    """A simulator as ``MT5_SIMULATOR_*`` describe it. ``accounts``: plain account objects (an accounts file's
    items) instead of ``MT5_SIMULATOR_ACCOUNTS``; ``overrides`` (``latency=``, ``sleep=``, ``clock=``) go to its
    constructor."""
    from mt5_worker.simulator import SimulatedTerminal
    from mt5_worker.simulator.specs import load_account_data

    options = simulator_options(settings)
    if accounts is not None:
        options["accounts"] = load_account_data(list(accounts), "simulator accounts")
    return SimulatedTerminal(**(options | overrides))


def simulator_options(settings: Settings) -> dict[str, Any]:
    """The simulator's constructor arguments from the settings; a bad value is a ``SettingsError`` naming it."""
    from mt5_worker.simulator.specs import parse_deviations, parse_faults, parse_latency

    try:
        latency = parse_latency(settings.simulator_latency)
    except ValueError as exc:
        raise invalid("simulator_latency", str(exc), settings.simulator_latency) from None
    try:
        faults: dict[str, FaultSpec] = parse_faults(settings.simulator_faults)
    except ValueError as exc:
        raise invalid("simulator_faults", str(exc), settings.simulator_faults) from None
    try:
        deviations = parse_deviations(settings.simulator_deviations)
    except ValueError as exc:
        raise invalid("simulator_deviations", str(exc), settings.simulator_deviations) from None
    return {
        "accounts": _accounts(settings.simulator_accounts),
        "latency": latency,
        "faults": faults,
        "seed": settings.simulator_seed,
        "crash_every": settings.simulator_crash_every,
        "clock_offset": settings.simulator_clock_offset,
        "tick_rate": settings.simulator_tick_rate,
        "trade_store": simulator_trade_store(settings),
        "disable_algo_on_switch": settings.simulator_disable_algo_on_switch,
        "deviations": deviations,
    }


def simulator_trade_store(settings: Settings) -> Path:
    """The simulated trade servers' file: ``MT5_SIMULATOR_TRADE_STORE``, else one per machine in the temp directory
    (as real terminals share their real server)."""
    from mt5_worker.simulator.trade_store import default_path

    return settings.simulator_trade_store or default_path()


def bridge_terminal(settings: Settings) -> Terminal:
    """A client of the bridge at ``MT5_BRIDGE_HOST``:``MT5_BRIDGE_PORT``; bad bridge settings stop start-up."""
    from mt5_worker.bridge.terminal import BridgeTerminal

    if settings.bridge_token is None or not settings.bridge_token.get_secret_value():
        raise SettingsError(
            f"MT5_BACKEND=bridge needs {env_name('bridge_token')}: the token `mt5-worker bridge` was started with"
        )
    try:
        terminal = BridgeTerminal(
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
    return cast(Terminal, terminal)  # its port methods are made from the SDK table


def sdk_functions(terminal: Terminal) -> Any | None:
    """The SDK's own module-level functions behind ``terminal`` when this process holds them, for the calls the port
    cannot make (keywords for unnamed parameters: ``mt5-worker conformance`` checks that the SDK refuses them): the
    ``MetaTrader5`` module under the real adapter; the simulator itself, which parses arguments as the module does;
    ``None`` through the bridge, which passes arguments only as the SDK table says."""
    backend = getattr(terminal, "backend", None)
    if backend == "simulator":
        return terminal
    if backend == "metatrader5":
        return getattr(terminal, "module", None)
    return None


def is_simulated(terminal: Terminal) -> bool:
    """Whether an initialized ``terminal`` is a simulator, in this process or behind a bridge (its
    ``terminal_info().name``)."""
    from mt5_worker.simulator.terminal import TERMINAL_NAME

    info = terminal.terminal_info()
    return info is not None and info.name == TERMINAL_NAME


def simulator_accounts(settings: Settings) -> tuple[AccountSpec, ...]:
    """The accounts of a simulator built from ``settings``: ``MT5_SIMULATOR_ACCOUNTS``, else the demo accounts."""
    from mt5_worker.simulator.specs import DEMO_ACCOUNTS

    return _accounts(settings.simulator_accounts) or DEMO_ACCOUNTS


def press_algo_trading(terminal: Terminal) -> bool:
    """Turn the terminal's Algo Trading back on where a backend can: a simulator (in this process, behind a stand-in
    ``MetaTrader5`` module, or behind a bridge that allows simulator control). ``False`` for a real terminal: the SDK
    has no function for that button."""
    backend = getattr(terminal, "backend", None)
    target: Any = sdk_functions(terminal)
    if backend == "bridge":
        try:
            cast(Any, terminal).control("enable_algo_trading")
        except Exception:  # a real terminal's bridge, or one without --allow-simulator-control
            return False
        return True
    press = getattr(target, "enable_algo_trading", None)
    if press is None:
        return False
    press()
    return True


def invalid(field_name: str, problem: str, got: object = None) -> SettingsError:
    """The error a bad value of ``field_name`` stops start-up with, worded as :meth:`Settings.load`'s own."""
    shown = "" if got is None else f" (got {got!r})"
    description = Settings.model_fields[field_name].description
    return SettingsError(f"invalid settings:\n  {env_name(field_name)}: {problem}{shown}; accepts: {description}")


def _accounts(path: Path | None) -> tuple[AccountSpec, ...] | None:
    from mt5_worker.simulator.specs import load_accounts

    if path is None:
        return None
    try:
        return load_accounts(path)
    except ValueError as exc:
        raise invalid("simulator_accounts", str(exc)) from None
