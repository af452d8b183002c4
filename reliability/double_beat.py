"""Two beats running by mistake: every idle sweep is sent twice, and the sweep stays correct.

    .venv/bin/python -m reliability.double_beat [--quick] [--docs PATH] [--keep-logs]

Two ``celery beat`` processes (the deployment must run one; this is the mistake) both send ``mt5.evict_idle`` to
every worker each ``MT5_IDLE_SWEEP_INTERVAL`` (1 s); sessions idle for ``MT5_CONNECTION_IDLE_TIMEOUT`` (2 s)
are logged out. In each cycle every cold account is used once and then left idle until swept; a hot account is
used every 0.5 s throughout. Expected: each cold session evicted exactly once per cycle (the second sweep finds
nothing to do), the hot one never, no sweep fails, and Redis's bookkeeping matches the pools at the end.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

from harness.accounts import write_accounts
from harness.env import env_values
from reliability import report, traffic
from reliability.processes import Fleet, make_accounts
from reliability.secrets_scan import scan

SWEEP, IDLE = 1.0, 2.0
_SWEEP_DONE = re.compile(r"Task mt5\.evict_idle\[[0-9a-f-]{36}\] succeeded")
_SWEEP_FAILED = re.compile(r"Task mt5\.evict_idle\[[0-9a-f-]{36}\] raised")
_SENT = "Sending due task mt5-evict-idle"


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    cycles, n_cold = (2, 16) if quick else (6, 16)
    deadline = 30.0
    accounts = make_accounts(n_cold + 1)
    hot, cold = accounts[0], accounts[1:]
    settings = {"MT5_IDLE_SWEEP_INTERVAL": SWEEP, "MT5_CONNECTION_IDLE_TIMEOUT": IDLE}
    fleet = Fleet(logs, broker=broker, forked=quick)
    requests: list[traffic.Request] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = fleet.start_workers(["w1", "w2"], MT5_SIMULATOR_ACCOUNTS=file, **settings)
        beats = [fleet.beat(f"beat{i}", **settings) for i in (1, 2)]
        stop = threading.Event()

        def keep_hot() -> None:
            while not stop.wait(0.5):
                requests.append(traffic.send(fleet, hot, deadline))

        hot_thread = traffic.run_in_background(keep_hot, "hot")
        for _ in range(cycles):
            requests.extend(traffic.send(fleet, account, deadline) for account in cold)
            time.sleep(IDLE + 2 * SWEEP + 1.5)  # idle long enough for a sweep to find every cold session expired
        stop.set()
        hot_stopped = time.time()  # from here on the hot session may go idle and be swept, rightly
        hot_thread.join()
        traffic.collect(fleet, requests, grace=30)
        traffic.wait_quiet(fleet)
        tally = traffic.Tally.of(requests)
        stats = fleet.client.pool_stats_all(timeout=30)
        evicted: Counter[int] = Counter()
        hot_evictions = hot_elsewhere = 0
        for w in workers:
            # Bounded-load routing may serve the hot account on the other worker for a while: the session it left
            # idle here is then rightly evicted. Wrong is only an eviction of a session used here within the idle
            # timeout.
            served = [traffic.event_time(e) for e in w.sdk_calls("account_info", login=hot.login)]
            for event in w.events("mt5.sessions.evicted", reason="idle"):
                evicted.update(event["logins"])
                at = traffic.event_time(event)
                if hot.login in event["logins"] and at < hot_stopped:
                    last_use = max((t for t in served if t <= at), default=0.0)
                    hot_evictions += at - last_use < IDLE
                    hot_elsewhere += at - last_use >= IDLE
        texts = [w.log_text() for w in workers]
        sweeps_done = sum(len(_SWEEP_DONE.findall(t)) for t in texts)
        sweeps_failed = sum(len(_SWEEP_FAILED.findall(t)) for t in texts)
        sent = [b.log_text().count(_SENT) for b in beats]
        problems_logged = [e for w in workers for e in w.events() if e.get("level") in ("warning", "error")]
        celery_errors = sum(t.count("ERROR/") for t in texts)
        passwords = [a.password.get_secret_value() for a in accounts]
        secrets = scan(passwords, fleet.r, fleet.log_files(), results=[r.meta for r in requests])
    finally:
        fleet.close()

    wrong_evictions = {a.login: evicted[a.login] for a in cold if evicted[a.login] != cycles}
    in_step = all({s["login"] for s in st["pool"]} == {s["login"] for s in st["redis_sessions"]} for st in stats)
    figures: list[tuple[str, object]] = [
        ("cycles (use every cold account once, then leave it idle)", cycles),
        ("sweeps sent by beat1 / beat2", " / ".join(map(str, sent))),
        ("sweeps run by the workers (both beats' sweeps reach both workers)", sweeps_done),
        ("sweeps that failed", sweeps_failed),
        ("cold sessions evicted (expected: accounts x cycles)", f"{sum(evicted[a.login] for a in cold)} "
         f"(expected {len(cold) * cycles})"),
        ("cold sessions evicted other than once per cycle", len(wrong_evictions)),
        ("hot session evictions while in use on that worker (used every 0.5 s; expected 0)", hot_evictions),
        ("hot session evictions after it was served elsewhere for the idle timeout (bounded-load routing)",
         hot_elsewhere),
        ("warnings or errors in the workers' logs", len(problems_logged) + celery_errors),
        ("pools and Redis bookkeeping agree at the end", in_step),
        ("password hits (Redis keys, log lines, results)", f"{secrets.total_hits} ({secrets.summary()})"),
    ]  # fmt: skip
    extra = []
    if not (sent[0] and sent[1]):
        extra.append("a beat sent no sweep: the scenario tested nothing")
    if sweeps_failed or wrong_evictions or hot_evictions or not in_step:
        extra.append("the idle sweep misbehaved under two beats")
    if problems_logged or celery_errors:
        kinds = Counter(str(e.get("event")) for e in problems_logged)
        extra.append(f"warnings/errors logged: {dict(kinds)}, Celery ERROR lines: {celery_errors}")
    if secrets.total_hits:
        extra.append(f"{secrets.total_hits} password hits")
    return report.Outcome(
        broker=broker,
        duplicates=sum(1 for n in traffic.executions(workers).values() if n > 1),
        name="double_beat",
        title="Two beats by mistake: every idle sweep sent twice",
        argv=[],
        tally=tally,
        deadline=deadline,
        injected=(
            f"two `celery beat` processes against workers w1 and w2; {cycles} cycles of {len(cold)} cold accounts "
            f"used once each then left idle, and one hot account used every 0.5 s throughout "
            f"({tally.sent} `mt5.account_info` requests in all)."
        ),
        settings=env_values(settings),
        figures=figures,
        extra_problems=extra,
        notes="""\
Why it holds: the sweep is idempotent. Each worker's sweep asks Redis for its sessions idle past the timeout
and logs out only those its own pool still holds and that are still idle, under the manager's lock; the second
sweep of a pair finds them gone and does nothing. The SDK has no logout call, so a doubled sweep cannot make a
terminal call fail either. Running two beats doubles the sweep traffic (and every other scheduled task), which
is why the deployment runs exactly one.
""",
    )


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
