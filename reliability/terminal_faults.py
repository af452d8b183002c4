"""Terminal faults: 10% transient IPC errors on login() and account_info(), plus a scripted terminal crash every
1,000 requests, across two workers.

    .venv/bin/python -m reliability.terminal_faults [--quick] [--docs PATH] [--keep-logs]

Each worker's simulated terminal fails ``login()`` with -10005 (IPC timeout) and ``account_info()`` with -10002
(IPC recv failed), each with probability 0.1, and crashes (-10001 until ``initialize()``) on every N-th
``account_info()`` call (``MT5_SIMULATOR_CRASH_EVERY``; N = 1,000 / workers, so the fleet crashes about once per
1,000 requests). The manager marks the terminal lost on any IPC code and initializes it again on the next
attempt; Celery retries the task (``MT5_CONNECTION_RETRY_LIMIT`` retries, 1 s apart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.accounts import write_accounts
from harness.env import env_values
from reliability import report, traffic
from reliability.processes import Fleet, make_accounts
from reliability.secrets_scan import scan

FAULTS = {"login": {"rate": 0.1, "code": -10005}, "account_info": {"rate": 0.1, "code": -10002}}
CRASH_CODE = -10001  # SimulatedTerminal.crash()'s default: "IPC send failed"
WORKERS = 2


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    n_requests, n_accounts = (300, 20) if quick else (5000, 50)
    crash_every = (100 if quick else 1000) // WORKERS  # per worker: fleet-wide one crash per 100 / 1,000 requests
    rate, deadline = 100.0, 60.0
    accounts = make_accounts(n_accounts)
    settings: dict[str, Any] = {
        "MT5_SIMULATOR_FAULTS": FAULTS,
        "MT5_SIMULATOR_CRASH_EVERY": crash_every,
        "MT5_CONNECTION_RETRY_LIMIT": 3,
        "MT5_CONNECTION_RETRY_BACKOFF": 1,
        "MT5_CONNECTION_RETRY_BACKOFF_MAX": 1,
        "MT5_CONNECTION_POOL_SIZE": n_accounts,
    }
    fleet = Fleet(logs, broker=broker, forked=quick)
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = fleet.wait_serving([
            fleet.worker(f"w{i + 1}", wait=False, MT5_SIMULATOR_ACCOUNTS=file, MT5_SIMULATOR_SEED=i + 1, **settings)
            for i in range(WORKERS)
        ])  # fmt: skip
        requests = traffic.paced(fleet, accounts, n_requests, rate, deadline, seed=7)
        traffic.collect(fleet, requests, grace=30)
        traffic.wait_quiet(fleet)
        tally = traffic.Tally.of(requests)
        failures = traffic.sdk_failures(workers)
        runs = traffic.executions(workers)
        inits = sum(len(w.events("mt5.call", function="initialize", ok=True)) for w in workers)
        passwords = [a.password.get_secret_value() for a in accounts]
        secrets = scan(passwords, fleet.r, fleet.log_files(), results=[r.meta for r in requests])
    finally:
        fleet.close()

    crashes = failures[("account_info", CRASH_CODE)]
    injected = failures[("login", -10005)] + failures[("account_info", -10002)]
    figures: list[tuple[str, object]] = [
        ("workers", WORKERS),
        ("accounts", n_accounts),
        ("injected IPC errors (SDK calls failed: login -10005, account_info -10002)",
         f"{injected} ({failures[('login', -10005)]} + {failures[('account_info', -10002)]})"),
        ("terminal crashes (account_info -10001)", crashes),
        ("other failed SDK calls (after a crash: -10001 until initialize)",
         sum(failures.values()) - injected - crashes),
        ("terminal initializations (2 at start, then one per IPC failure)", inits),
        ("Celery retries", traffic.retries(workers)),
        ("tasks run to completion more than once", sum(1 for n in runs.values() if n > 1)),
        ("password hits (Redis keys, log lines, results)", f"{secrets.total_hits} ({secrets.summary()})"),
    ]  # fmt: skip
    extra = [] if crashes and injected else ["no fault was injected: the scenario tested nothing"]
    if secrets.total_hits:
        extra.append(f"{secrets.total_hits} password hits")
    return report.Outcome(
        broker=broker,
        duplicates=sum(1 for n in runs.values() if n > 1),
        name="terminal_faults",
        title="Terminal faults: transient IPC errors and scripted crashes",
        argv=[],
        tally=tally,
        deadline=deadline,
        injected=(
            f"{n_requests:,} `mt5.account_info` requests over {n_accounts} accounts, sent at {rate:g}/s to "
            f"{WORKERS} workers; each worker's terminal fails `login()` (-10005) and `account_info()` (-10002) with "
            f"probability 0.1 and crashes on every {crash_every}th `account_info()` call (fleet-wide about one "
            f"crash per {crash_every * WORKERS:,} requests)."
        ),
        settings=env_values(settings),
        figures=figures,
        extra_problems=extra,
        notes="""\
Every IPC failure marks the terminal lost; the task fails with `TransientMT5Error` and Celery retries it
1 s later, when the manager initializes the terminal again and logs in anew. `MT5_CONNECTION_RETRY_LIMIT` is
left at its default, 3 (4 attempts): an attempt after an IPC failure needs `login()` and `account_info()`, so it
fails with probability about 0.19, and about one request in a thousand exhausts its attempts. Those fail with
the last attempt's `TransientMT5Error` and its MT5 code (the "failed, MT5 code" column): a clear error, never a
silent one. Raising the limit to 5 would make that about one in 50,000.
""",
    )


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
