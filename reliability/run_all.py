"""Run every scenario of the fault campaign, one after the other; exit 1 if any broke an invariant.

    .venv/bin/python -m reliability.run_all [--quick] [--broker redis|rabbitmq] [--docs PATH] [--keep-logs]

A full run rewrites every section of docs/reliability.md for its broker (about ten minutes on two cores; with
``--broker rabbitmq`` the ``<name>_rabbitmq`` sections and the side-by-side table's RabbitMQ rows); ``--quick``
takes about a minute and a half and writes nothing.
"""

from __future__ import annotations

import sys
import time

from reliability import (
    bridge_faults,
    credential_scan,
    double_beat,
    redis_restart,
    terminal_faults,
    trade_kill,
    worker_kill,
)

SCENARIOS = (terminal_faults, worker_kill, redis_restart, bridge_faults, double_beat, credential_scan, trade_kill)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        print(__doc__)
        return 0
    verdicts = []
    for scenario in SCENARIOS:
        started = time.monotonic()
        code = scenario.main(args)
        verdicts.append((scenario.__name__.rsplit(".", 1)[-1], code, time.monotonic() - started))
        print()
    for name, code, seconds in verdicts:
        print(f"{name:<18} {'OK' if code == 0 else 'INVARIANTS BROKEN'} ({seconds:.0f} s)")
    return 0 if all(code == 0 for _, code, _ in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
