"""``mt5-worker conformance``: check the configured terminal against the SDK facts the service relies on, and report
each fact's verdict (docs/real-terminal.md, "Checking your terminal").

The terminal comes from the backend chooser, as a worker's does (``MT5_BACKEND``: the simulator, the bridge to a
terminal, or the ``MetaTrader5`` module beside it). The account is ``--login``/``--server``/``--password-env``, as
for ``mt5-worker call``; a simulator (here or behind a bridge) defaults to its first account. Read-only unless
``--trading`` with its confirmation, ``MT5_TRADING_ENABLED=true`` and a demo account.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt5_worker import backends
from mt5_worker.errors import SettingsError
from mt5_worker.logging import configure_logging
from mt5_worker.settings import Settings
from mt5_worker.terminal import constants as c

if TYPE_CHECKING:  # the checks load numpy and the manager: only when the command runs (`mt5-worker --help` stays quick)
    from mt5_worker.conformance.context import Account
    from mt5_worker.conformance.report import Redactor

DESCRIPTION = """\
Check the terminal MT5_BACKEND names (the simulator, the bridge, or the MetaTrader5 module beside the terminal)
against every SDK fact this service relies on, and print each fact's verdict: held, differs, documented
simplification (the simulator, on purpose), could not check, or not run. Read-only unless --trading."""

EPILOG = """\
examples:
  MT5_BACKEND=simulator mt5-worker conformance                   # the simulator, its first demo account
  MT5_PASSWORD=... mt5-worker conformance --login 51234567 --server Broker-Demo --password-env MT5_PASSWORD \\
      --markdown conformance.md                                  # a real terminal (bridge or Windows), a report
  MT5_TRADING_ENABLED=true mt5-worker conformance ... --trading --i-understand-this-places-orders

Without --trading nothing is ordered and the account is unchanged; the checks reconnect the terminal (shutdown,
initialize) and add --symbol to Market Watch. With --trading (a demo account only): the symbol's smallest orders,
each closed at once, and requests the server refuses; with a second account (--switch-*), a login switch, which may
turn the terminal's Algo Trading off. Reports never hold a password, a login number, a server or an account name.
exit status: 0 every check held (or is a documented simplification), 1 a check differs or could not be checked,
2 bad arguments or settings (nothing done), 3 the terminal could not be reached or the account logged in."""

EXIT_FAILED, EXIT_USAGE, EXIT_NO_TERMINAL = 1, 2, 3
CONFIRMATION = "--i-understand-this-places-orders"


class UsageError(ValueError):
    """Bad arguments: nothing was done."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--login", type=int, help="the account to check with (required on a real terminal)")
    parser.add_argument("--server", help="its trade server, e.g. MetaQuotes-Demo")
    parser.add_argument("--password-env", metavar="NAME", help="read its password from environment variable NAME")
    parser.add_argument("--symbol", default="EURUSD", help="an FX symbol the server offers (default EURUSD)")
    parser.add_argument("--trading", action="store_true", help="also run the checks that trade (a demo account)")
    parser.add_argument(CONFIRMATION, dest="confirmed", action="store_true", help="required with --trading")
    parser.add_argument("--switch-login", type=int, help="a second account, for the login-switch check (--trading)")
    parser.add_argument("--switch-server", help="its trade server")
    parser.add_argument("--switch-password-env", metavar="NAME", help="read its password from variable NAME")
    parser.add_argument("--check", action="append", metavar="NAME", help="run only this check (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (progress goes to stderr)")
    parser.add_argument("--markdown", metavar="FILE", type=Path, help="also write the report as markdown to FILE")


def main(args: argparse.Namespace) -> int:
    from mt5_worker.conformance.context import Account, Context, hours
    from mt5_worker.conformance.report import line, markdown, report, summary
    from mt5_worker.conformance.runner import Outcome, run

    try:
        settings = _pinned(Settings.load())
        backends.check_settings(settings)
        _check(args, settings)
        first, second = _given(args)
    except (UsageError, SettingsError) as exc:
        print(f"mt5-worker conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_format, "WARNING")  # the report is the output: calls are not logged one by one
    terminal = backends.create_terminal(settings)
    redact = _redactor(first, second)
    ctx = Context(terminal, Account(0, None, ""), args.symbol, settings)
    if not ctx.reconnect():
        return _stop(f"initialize() failed: {ctx.error()}", EXIT_NO_TERMINAL, redact)
    if first is None:
        try:
            first, second = _simulator_accounts(settings, terminal)
        except UsageError as exc:
            return _stop(str(exc), EXIT_USAGE, redact)
        redact = _redactor(first, second)
    ctx.account, ctx.second = first, second
    if not ctx.login_again():
        return _stop(f"login() of the account failed: {ctx.error()}", EXIT_NO_TERMINAL, redact)
    info = terminal.account_info()
    redact = _redactor(first, second, names=[info.name] if info is not None else [])
    if args.trading and (info is None or info.trade_mode != c.ACCOUNT_TRADE_MODE_DEMO):
        mode = None if info is None else info.trade_mode
        return _stop(f"--trading runs on a demo account only (account_info().trade_mode is {mode})", EXIT_USAGE, redact)
    if not terminal.symbol_select(args.symbol, True):
        return _stop(f"symbol_select({args.symbol!r}) failed: {ctx.error()}: give a symbol the server offers",
                     EXIT_USAGE, redact)  # fmt: skip
    ctx.sdk = backends.sdk_functions(terminal)
    ctx.module = ctx.sdk if getattr(terminal, "backend", None) == "metatrader5" else None
    ctx.simulated = backends.is_simulated(terminal)
    ctx.press_algo_trading = lambda: backends.press_algo_trading(terminal)
    about = _about(terminal, settings, args, ctx.simulated)
    out = sys.stderr if args.json else sys.stdout

    def progress(outcome: Outcome) -> None:
        print(line(report([outcome], {}, [], redact)["checks"][0]), file=out, flush=True)

    outcomes = run(ctx, trading=args.trading, facts=_selected(args.check), progress=progress)
    if "clock_offset" in ctx.cache:
        about["trade server's clock - this machine's"] = hours(ctx.cache["clock_offset"])
    data = report(outcomes, about, ctx.notes, redact)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for note in data["notes"]:
            print(f"note: {note}")
        print(summary(data))
    if args.markdown is not None:
        args.markdown.write_text(markdown(data), encoding="utf-8")
    return 0 if data["passed"] else EXIT_FAILED


def _pinned(settings: Settings) -> Settings:
    """An in-process simulator on a trading hour unless ``MT5_SIMULATOR_CLOCK_OFFSET`` says otherwise, as for the
    demo: the checks that need an open market then run on any day."""
    from mt5_worker.cli.devstack import TRADING_HOUR, clock_offset_to

    if settings.backend != "simulator" or "simulator_clock_offset" in settings.model_fields_set:
        return settings
    print(f"mt5-worker conformance: the simulated trade servers pinned to {TRADING_HOUR:%A %Y-%m-%d %H:%M} UTC "
          "(MT5_SIMULATOR_CLOCK_OFFSET), when their FX market trades", file=sys.stderr)  # fmt: skip
    return settings.model_copy(update={"simulator_clock_offset": clock_offset_to(TRADING_HOUR)})


def _redactor(*accounts: Account | None, names: list[str] | None = None) -> Redactor:
    from mt5_worker.conformance.report import Redactor

    given = [a for a in accounts if a is not None]
    return Redactor.of(passwords=[a.password for a in given], logins=[a.login for a in given],
                       servers=[a.server for a in given], names=names or [])  # fmt: skip


def _check(args: argparse.Namespace, settings: Settings) -> None:
    if args.trading and not args.confirmed:
        raise UsageError(f"--trading places orders: add {CONFIRMATION} to confirm")
    if args.confirmed and not args.trading:
        raise UsageError(f"{CONFIRMATION} goes with --trading")
    if args.trading and not settings.trading_enabled:
        raise UsageError("--trading needs MT5_TRADING_ENABLED=true")
    if args.check:
        _selected(args.check)


def _given(args: argparse.Namespace) -> tuple[Account | None, Account | None]:
    """The accounts on the command line: ``(None, None)`` when none is given (a simulator's then)."""
    first = _account(args.login, args.server, args.password_env, "")
    second = _account(args.switch_login, args.switch_server, args.switch_password_env, "switch-")
    if second is not None and first is None:
        raise UsageError("--switch-login needs --login")
    return first, second


def _account(login: int | None, server: str | None, variable: str | None, prefix: str) -> Account | None:
    from mt5_worker.conformance.context import Account

    if login is None and server is None and variable is None:
        return None
    if login is None or server is None or variable is None:
        raise UsageError(f"--{prefix}login, --{prefix}server and --{prefix}password-env go together")
    password = os.environ.get(variable)
    if not password:
        raise UsageError(f"environment variable {variable} (--{prefix}password-env) is not set")
    return Account(login, password, server)


def _simulator_accounts(settings: Settings, terminal: Any) -> tuple[Account, Account | None]:
    """A simulator's first account and the next one with another login; a real terminal needs ``--login``."""
    from mt5_worker.conformance.context import Account

    if not backends.is_simulated(terminal):
        raise UsageError("on a real terminal give --login, --server and --password-env (a demo account for --trading)")
    found = backends.simulator_accounts(settings)
    accounts = [Account(a.login, a.password.get_secret_value(), a.server) for a in found]
    second = next((a for a in accounts[1:] if a.login != accounts[0].login), None)
    return accounts[0], second


def _selected(names: list[str] | None) -> Any:
    from mt5_worker.conformance.facts import BY_NAME, FACTS

    if not names:
        return FACTS
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise UsageError(f"unknown check(s) {unknown}; the checks: {', '.join(BY_NAME)}")
    return tuple(fact for fact in FACTS if fact.name in names)


def _about(terminal: Any, settings: Settings, args: argparse.Namespace, simulated: bool) -> dict[str, Any]:
    from mt5_worker import __version__

    version = terminal.version()
    build = f"build {version[1]} ({version[2]})" if version else "unknown"
    return {"mt5-worker": __version__, "backend": settings.backend, "terminal": build,
            "simulated": simulated, "symbol": args.symbol, "trading checks": args.trading,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "python": sys.version.split()[0],
            "platform": sys.platform}  # fmt: skip


def _stop(message: str, status: int, redact: Redactor) -> int:
    print(f"mt5-worker conformance: {redact(message)}", file=sys.stderr)
    return status
