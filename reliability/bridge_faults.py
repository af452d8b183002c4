"""The bridge killed and restarted, stopped (SIGSTOP), and replaced by a listener that accepts and never answers.

    .venv/bin/python -m reliability.bridge_faults [--quick] [--docs PATH] [--keep-logs]

One worker with ``MT5_BACKEND=bridge`` and its bridge (``python -m mt5_worker.bridge.server`` hosting the
simulator) serve a steady stream of ``mt5.account_info``; three faults follow one another, each then repaired:

1. *killed*: SIGKILL to the bridge; connections are refused until it is started again on the same port (a fresh
   terminal: the worker's manager initializes it and logs in again with the passwords it pools);
2. *stopped*: SIGSTOP to the bridge; the kernel still accepts connections, but nothing answers the call in flight
   or the next handshake, until SIGCONT;
3. *silent*: the bridge killed and its port taken by a TCP server that accepts every connection and never sends
   a byte; then the bridge is back.

Every bridge call must end within ``MT5_BRIDGE_TIMEOUT`` with a transient IPC error, which Celery retries.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.accounts import write_accounts
from harness.env import env_values
from harness.processes import BridgeProcess
from reliability import report, traffic
from reliability.processes import Fleet, SilentListener, make_accounts
from reliability.secrets_scan import scan

BRIDGE_TIMEOUT = 2.0


@dataclass
class Phase:
    kind: str
    start: float
    end: float = 0.0
    detail: str = ""


def break_and_repair(bridge: BridgeProcess, kind: str, seconds: float) -> Phase:
    phase = Phase(kind, time.time())
    if kind == "killed":
        bridge.kill()
        time.sleep(seconds)
        bridge.start()
    elif kind == "stopped":
        bridge.pause()
        time.sleep(seconds)
        bridge.resume()
    else:
        bridge.kill()
        listener = SilentListener(bridge.port)
        time.sleep(seconds)
        listener.close()
        phase.detail = f"{listener.accepted} connections accepted, none answered"
        bridge.start()
    phase.end = time.time()
    return phase


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    n_requests, outage = (100, 2.0) if quick else (600, 6.0)
    rate, deadline, n_accounts = 10.0, 60.0, 10
    accounts = make_accounts(n_accounts)
    settings = {
        "MT5_BRIDGE_TIMEOUT": BRIDGE_TIMEOUT,
        "MT5_TERMINAL_TIMEOUT": 1000,
        "MT5_CONNECTION_RETRY_LIMIT": 8,
        "MT5_CONNECTION_RETRY_BACKOFF": 1,
        "MT5_CONNECTION_RETRY_BACKOFF_MAX": 1,
        "MT5_CONNECTION_POOL_SIZE": n_accounts,
    }
    fleet = Fleet(logs, broker=broker, forked=quick)
    phases: list[Phase] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        # Its own bridge hosts its terminal, which takes the MT5_SIMULATOR_* settings.
        (worker,) = fleet.start_workers(["w1"], bridged=True, MT5_SIMULATOR_ACCOUNTS=file, **settings)
        bridge = worker.bridge
        assert bridge is not None
        span = n_requests / rate
        kinds = ["killed", "stopped", "silent"]

        def chaos() -> None:
            start = time.time()
            for i, kind in enumerate(kinds):
                time.sleep(max(0.0, start + span * (i + 0.5) / len(kinds) - time.time()))
                phases.append(break_and_repair(bridge, kind, outage))

        thread = traffic.run_in_background(chaos, "chaos")
        requests = traffic.paced(fleet, accounts, n_requests, rate, deadline, seed=17)
        thread.join()
        traffic.collect(fleet, requests, grace=30)
        traffic.wait_quiet(fleet)
        tally = traffic.Tally.of(requests)
        failed_calls = worker.events("mt5.call", ok=False)
        ok_calls = [traffic.event_time(e) for e in worker.events("mt5.call", function="account_info", ok=True)]
        passwords = [a.password.get_secret_value() for a in accounts]
        secrets = scan(passwords, fleet.r, fleet.log_files(), results=[r.meta for r in requests])
        secrets.add("bridge token in logs", fleet.logs().encode(), [bridge.token])
    finally:
        fleet.close()

    rows = []
    for p in phases:
        during = [e for e in failed_calls if p.start <= traffic.event_time(e) <= p.end + BRIDGE_TIMEOUT]
        codes = sorted({e["mt5_code"] for e in during})
        longest = max((e["duration_ms"] / 1000 for e in during), default=0.0)
        first_ok = min((t for t in ok_calls if t > p.end), default=float("nan"))
        rows.append((p.kind, f"{p.end - p.start:.1f} s", len(during), ", ".join(map(str, codes)),
                     f"{longest:.2f} s", f"{first_ok - p.end:.2f} s", p.detail))  # fmt: skip
    longest_call = max((e["duration_ms"] / 1000 for e in failed_calls), default=0.0)
    figures: list[tuple[str, object]] = [
        ("failed SDK calls (bridge calls) by MT5 code",
         dict(sorted(Counter(e["mt5_code"] for e in failed_calls).items()))),
        ("longest failed call", f"{longest_call:.2f} s (MT5_BRIDGE_TIMEOUT {BRIDGE_TIMEOUT:g} s)"),
        ("Celery retries", traffic.retries([worker])),
        ("password hits (Redis keys, log lines, results) + bridge token in logs",
         f"{secrets.total_hits} ({secrets.summary()})"),
    ]  # fmt: skip
    extra = [] if len(phases) == len(kinds) and failed_calls else ["the faults were not injected"]
    if secrets.total_hits:
        extra.append(f"{secrets.total_hits} secret hits")
    phase_table = report.table(
        ["fault", "lasted", "failed bridge calls", "MT5 codes", "longest failed call",
         "first success after repair", ""], rows,
    )  # fmt: skip
    return report.Outcome(
        broker=broker,
        duplicates=sum(1 for n in traffic.executions([worker]).values() if n > 1),
        name="bridge_faults",
        title="Bridge killed, stopped, and replaced by a silent listener",
        argv=[],
        tally=tally,
        deadline=deadline,
        injected=(
            f"{n_requests:,} `mt5.account_info` requests over {n_accounts} accounts at {rate:g}/s to one worker "
            f"(`MT5_BACKEND=bridge`); its bridge killed for {outage:g} s and restarted, then SIGSTOPped for "
            f"{outage:g} s, then replaced for {outage:g} s by a listener that accepts and never answers."
        ),
        settings=env_values(settings) | {"MT5_BACKEND": "bridge"},
        figures=figures,
        extra_problems=extra,
        notes=f"""\
Each fault (failed calls counted from the worker's `mt5.call` log lines during the fault and up to one bridge
timeout after it; "first success" is the first `account_info` that succeeded after the repair):

{phase_table}

MT5 codes: -10004 "No IPC connection" (connection refused, or no handshake answer within the timeout),
-10005 "IPC timeout" (a call sent, no answer within `MT5_BRIDGE_TIMEOUT`), -10002 "IPC recv failed" (the
connection died during a call). All are transient: the manager marks the terminal lost, the task fails and
Celery retries it ({settings["MT5_CONNECTION_RETRY_LIMIT"]} retries, 1 s apart, here: enough to outlast each
{outage:g} s fault; with the defaults, 3 retries 1, 2, 4 s apart, a fault longer than about 7 s plus the
timeouts fails the requests caught in it, with code -10004 or -10005). No bridge call outlived the timeout.
""",
    )


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
