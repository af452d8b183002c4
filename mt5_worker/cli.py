"""The ``mt5-worker`` console script.

mt5-worker demo [--serve]     the whole stack on the simulator (a private Redis unless REDIS_URL is set)
mt5-worker worker [ARGS...]   a Celery worker with this service's defaults (extra ARGS go to celery)
mt5-worker beat [ARGS...]     the one Celery beat that schedules the idle sweep
mt5-worker bridge [...]       serve a terminal to Linux workers (see `mt5-worker bridge --help`)
mt5-worker settings           print the effective settings (secrets hidden), or what is wrong with them
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mt5_worker.config import Settings, SettingsError


def worker_command(args: Sequence[str], platform: str = sys.platform) -> list[str]:
    """prefork with one child on Linux (a responsive parent); solo on Windows, where prefork does not run."""
    pool = "--pool=solo" if platform == "win32" else "--pool=prefork"
    return [sys.executable, "-m", "celery", "-A", "mt5_worker.app", "worker", pool, "--concurrency=1",
            "--loglevel=INFO", *args]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mt5-worker", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo stack on the simulator")
    demo.add_argument("--serve", action="store_true", help="keep the stack up until Ctrl-C")
    demo.add_argument("--requests", type=int, default=40, help="requests in the burst (default 40)")
    commands.add_parser("worker", help="start a worker", add_help=False)
    commands.add_parser("beat", help="start beat", add_help=False)
    commands.add_parser("bridge", help="serve a terminal over the network", add_help=False)
    commands.add_parser("settings", help="print the effective settings")

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("worker", "beat", "bridge"):  # pass the rest through untouched
        command, rest = argv[0], argv[1:]
    else:
        parsed = parser.parse_args(argv)
        command, rest = parsed.command, []
    try:
        if command == "demo":
            from mt5_worker import demo as demo_module

            return demo_module.run(serve=parsed.serve, requests=parsed.requests)
        if command == "settings":
            print(Settings.load().model_dump_json(indent=2))
            return 0
        if command == "bridge":
            from mt5_worker import bridge_server

            return int(bridge_server.main(rest) or 0)
        Settings.load()  # fail here, naming the variable, rather than inside celery
        argv_ = worker_command(rest) if command == "worker" else [sys.executable, "-m", "celery", "-A",
                                                                  "mt5_worker.app", "beat", *rest]  # fmt: skip
        os.execv(sys.executable, argv_)
    except SettingsError as exc:
        print(f"mt5-worker: {exc}", file=sys.stderr)
        return 2
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
