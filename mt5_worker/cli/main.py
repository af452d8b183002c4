"""mt5-worker: run the MetaTrader 5 Celery service and talk to it from the shell.

mt5-worker demo [--serve]     the whole stack on the simulator (a private Redis unless REDIS_URL is set)
mt5-worker worker [ARGS...]   a Celery worker with this service's defaults (extra ARGS go to celery)
mt5-worker beat [ARGS...]     the one Celery beat that schedules the idle sweep
mt5-worker bridge [...]       serve a terminal to Linux workers (see `mt5-worker bridge --help`)
mt5-worker feed               serve one trade server's ticks and bars to Redis Streams (docs/streams.md)
mt5-worker settings           print the effective settings (secrets hidden), or what is wrong with them
mt5-worker call TASK [...]    enqueue one task (account_info, login, health, pool_stats), print its JSON result
mt5-worker health [...]       is a worker healthy? JSON on stdout, exit 0 if so, else 1 (container healthchecks)
mt5-worker status [...]       the fleet on one screen from Redis alone (--json, --watch)
mt5-worker conformance [...]  check the terminal against the SDK facts the service relies on (a report per fact)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mt5_worker.backends import check_settings
from mt5_worker.cli import call as cli_call
from mt5_worker.cli import conformance
from mt5_worker.cli import health as healthcheck
from mt5_worker.cli import status as fleet_status
from mt5_worker.errors import SettingsError
from mt5_worker.settings import Settings

DEMO_EPILOG = """\
examples:
  mt5-worker demo                   # a burst of requests on the simulator, pool stats, an idle eviction (~20 s)
  mt5-worker demo --requests 200    # a bigger burst
  mt5-worker demo --serve           # then keep Redis, the worker, beat and Flower up until Ctrl-C
Uses REDIS_URL if set, else starts a private redis-server; stops everything it started."""

SETTINGS_EPILOG = """\
examples:
  mt5-worker settings               # effective values from the environment and .env, secrets hidden
  mt5-worker settings --markdown    # every variable, its default and meaning (docs/configuration.md)
Exit status 2 and the variable's name when a value is invalid."""

EPILOG = """\
examples:
  mt5-worker demo
  mt5-worker worker -n mt5-1@%h --loglevel=DEBUG
  MT5_PASSWORD=... mt5-worker call account_info --login 10000001 --server MetaQuotes-Demo --password-env MT5_PASSWORD
`mt5-worker COMMAND --help` explains each command; worker and beat pass their arguments to celery."""


def worker_command(args: Sequence[str], platform: str = sys.platform) -> list[str]:
    """prefork with one child on Linux (a responsive parent); solo on Windows, where prefork does not run. Without
    gossip (each worker would take every other worker's heartbeat events: a fleet of N gets N^2/2 a second) and
    mingle (each starting worker would wait for every other worker's reply); nothing here uses either."""
    pool = "--pool=solo" if platform == "win32" else "--pool=prefork"
    return [sys.executable, "-m", "celery", "-A", "mt5_worker.worker.app", "worker", pool, "--concurrency=1",
            "--loglevel=INFO", "--without-gossip", "--without-mingle", *args]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="mt5-worker", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the demo stack on the simulator", epilog=DEMO_EPILOG, formatter_class=raw
    )
    demo.add_argument("--serve", action="store_true", help="keep the stack up until Ctrl-C")
    demo.add_argument("--requests", type=int, default=40, help="requests in the burst (default 40)")
    commands.add_parser("worker", help="start a worker", add_help=False)
    commands.add_parser("beat", help="start beat", add_help=False)
    commands.add_parser("bridge", help="serve a terminal over the network", add_help=False)
    commands.add_parser("feed", help="serve a trade server's ticks and bars to Redis Streams", add_help=False)
    settings = commands.add_parser(
        "settings", help="print the effective settings", epilog=SETTINGS_EPILOG, formatter_class=raw
    )
    settings.add_argument("--markdown", action="store_true", help="print the table of docs/configuration.md")
    call = commands.add_parser(
        "call",
        allow_abbrev=False,  # --password must not pass as --password-env: passwords never go on argv
        help="enqueue one mt5 task and print its JSON result",
        description=cli_call.DESCRIPTION,
        epilog=cli_call.EPILOG,
        formatter_class=raw,
    )
    cli_call.add_arguments(call)
    health = commands.add_parser(
        "health",
        help="check a worker: Redis, Celery ping, terminal (exit 0/1, JSON)",
        description=healthcheck.DESCRIPTION,
        epilog=healthcheck.EPILOG,
        formatter_class=raw,
    )
    healthcheck.add_arguments(health)
    status = commands.add_parser(
        "status",
        help="the fleet on one screen, from Redis alone (--json, --watch)",
        description=fleet_status.DESCRIPTION,
        epilog=fleet_status.EPILOG,
        formatter_class=raw,
    )
    fleet_status.add_arguments(status)
    check = commands.add_parser(
        "conformance",
        allow_abbrev=False,  # --password must not pass as --password-env: passwords never go on argv
        help="check the terminal against the SDK facts the service relies on",
        description=conformance.DESCRIPTION,
        epilog=conformance.EPILOG,
        formatter_class=raw,
    )
    conformance.add_arguments(check)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("worker", "beat", "bridge", "feed"):  # pass the rest through untouched
        command, rest = argv[0], argv[1:]
    else:
        parsed = parser.parse_args(argv)
        command, rest = parsed.command, []
    try:
        if command == "demo":
            from mt5_worker.cli import demo as demo_module

            return demo_module.run(serve=parsed.serve, requests=parsed.requests)
        if command == "health":
            return healthcheck.main(parsed)
        if command == "status":
            return fleet_status.main(parsed)
        if command == "call":
            return cli_call.run(parsed)
        if command == "conformance":
            return conformance.main(parsed)
        if command == "settings" and parsed.markdown:
            from mt5_worker.cli.settings_doc import settings_table

            print(settings_table(), end="")
            return 0
        if command == "settings":
            effective = Settings.load()
            check_settings(effective)  # the backend's own values too: what the worker would refuse to start with
            print(effective.model_dump_json(indent=2))
            return 0
        if command == "bridge":
            from mt5_worker.bridge import server as bridge_server

            return int(bridge_server.main(rest) or 0)
        if command == "feed":
            from mt5_worker.feed import main as feed_main

            return feed_main.main(rest)
        effective = Settings.load()  # fail here, naming the variable, rather than inside celery
        if command == "worker":
            check_settings(effective)
        argv_ = worker_command(rest) if command == "worker" else [sys.executable, "-m", "celery", "-A",
                                                                  "mt5_worker.worker.app", "beat", *rest]  # fmt: skip
        os.execv(sys.executable, argv_)
    except SettingsError as exc:
        print(f"mt5-worker: {exc}", file=sys.stderr)
        return 2
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":  # the older spelling, `python -m mt5_worker.cli.main`: runpy warns, the command still runs
    sys.exit(main())
