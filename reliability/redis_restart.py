"""Redis (broker, result backend and bookkeeping) restarted mid-run, with persistence on.

    .venv/bin/python -m reliability.redis_restart [--quick] [--broker redis|rabbitmq] [--docs PATH] [--keep-logs]

With ``--broker rabbitmq`` the queues are on RabbitMQ, which stays up: what the Redis outage then hits is the
result backend, the registry and the session bookkeeping, not the workers' consumers.

Redis runs with ``--appendonly yes`` (as in docker-compose.yml) and is stopped (SIGTERM: a clean shutdown that
writes the AOF) and started again on the same port, while a client keeps sending ``mt5.account_info`` from eight
threads. The workers are not touched: they must reconnect by themselves. Requests sent while Redis is down are
either published once it is back (the client's publish retry) or refused at once with an error the caller sees;
none may vanish.
"""

from __future__ import annotations

import gc
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis

from harness.accounts import write_accounts
from harness.env import env_values
from harness.processes import WorkerProcess
from reliability import report, traffic
from reliability.processes import Fleet, make_accounts
from reliability.secrets_scan import scan

_CONNECTED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] Connected to redis", re.M)


@dataclass
class Outage:
    down_at: float
    up_at: float = 0.0
    keys_before: int = 0
    keys_after: int = 0
    results_before: int = 0  # result keys present before the stop ...
    results_kept: int = 0  # ... and still there after the restart


def result_keys(r: redis.Redis) -> set[bytes]:
    return set(r.scan_iter("celery-task-meta-*", count=1000))


def outage(fleet: Fleet, seconds: float) -> Outage:
    before = result_keys(fleet.r)
    event = Outage(time.time(), keys_before=int(fleet.r.dbsize()), results_before=len(before))
    server = fleet.redis
    assert server is not None, "the outage needs the fleet's own Redis server"
    server.stop()
    time.sleep(seconds)
    server.start()
    event.up_at = time.time()
    event.keys_after = int(fleet.r.dbsize())
    event.results_kept = len(before & result_keys(fleet.r))
    return event


def reconnections(worker: WorkerProcess, after: float) -> list[float]:
    """When the worker's consumer (re)connected to the broker after ``after`` (Celery's own log line)."""
    times = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
             for m in _CONNECTED.finditer(worker.log_text())]  # fmt: skip
    return [t for t in times if t > after]


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    n_requests, durations = (180, [3.0]) if quick else (1500, [3.0, 12.0])
    rate, deadline, n_accounts = 20.0, 60.0, 20
    accounts = make_accounts(n_accounts)
    # A message a worker took just as Redis went down stays in Redis's unacked hash (the worker cannot put it back
    # while Redis is down: mt5_worker.worker.unacked_restore) and is delivered again after the visibility timeout:
    # the shortest valid one, so that it is within the run. The time limit is the longest that timeout allows (8 + the
    # retry backoff's 1 < 10): a task waiting on Redis through an outage and its restart must not hit it on a slow
    # machine.
    settings = {"MT5_CONNECTION_POOL_SIZE": n_accounts, "MT5_BROKER_VISIBILITY_TIMEOUT": 10, "MT5_TASK_TIME_LIMIT": 8,
                "MT5_CONNECTION_RETRY_BACKOFF_MAX": 1}  # fmt: skip
    fleet = Fleet(logs, redis_args=["--appendonly", "yes"], broker=broker, forked=quick)
    outages: list[Outage] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        workers = fleet.start_workers(["w1", "w2"], MT5_SIMULATOR_ACCOUNTS=file, **settings)
        span = n_requests / rate

        def chaos() -> None:
            start = time.time()
            for i, seconds in enumerate(durations):
                time.sleep(max(0.0, start + span * (i + 1) / (len(durations) + 1) - time.time()))
                outages.append(outage(fleet, seconds))

        thread = traffic.run_in_background(chaos, "chaos")
        requests = traffic.paced(fleet, accounts, n_requests, rate, deadline, seed=13, senders=8, keep=True)
        thread.join()
        traffic.collect(fleet, requests, grace=30)
        for request in requests:
            request.handle = None  # the caller is done with it (Redis is up again)
        gc.collect()  # and it unsubscribes now, not in the middle of a later outage
        traffic.wait_quiet(fleet)
        tally = traffic.Tally.of(requests)
        runs = traffic.executions(workers)
        reconnected = {w.name: [reconnections(w, o.up_at - 0.5) for o in outages] for w in workers}
        passwords = [a.password.get_secret_value() for a in accounts]
        secrets = scan(passwords, fleet.r, fleet.log_files(), results=[r.meta for r in requests])
    finally:
        fleet.close()

    rows = []
    for i, o in enumerate(outages):
        during = [r for r in requests if o.down_at <= r.sent_at <= o.up_at]
        published = [r for r in during if r.task_id]
        back = [min(reconnected[w][i], default=float("nan")) - o.up_at for w in sorted(reconnected)]
        rows.append((
            f"{o.up_at - o.down_at:.1f} s", f"{o.keys_before} -> {o.keys_after}",
            f"{o.results_kept} of {o.results_before}", len(during),
            f"{len(published)} published, {sum(1 for r in published if r.done_at)} done; "
            f"{len(during) - len(published)} refused at send",
            ", ".join("—" if math.isnan(b) else f"{b:.1f} s" for b in back),
        ))  # fmt: skip
    duplicates = sum(1 for n in runs.values() if n > 1)
    on_rabbitmq = broker == "rabbitmq"  # the consumers' broker never went away: nothing to reconnect to
    all_reconnected = on_rabbitmq or all(all(r) for r in reconnected.values())
    figures: list[tuple[str, object]] = [
        ("outages", len(outages)),
        (
            "workers reconnected after every outage",
            "n/a (their broker, RabbitMQ, stayed up)" if on_rabbitmq else all_reconnected,
        ),
        ("errors at send", dict(tally.send_errors) or "none"),
        ("tasks run to completion more than once (duplicates)", duplicates),
        ("password hits (Redis keys, log lines, results)", f"{secrets.total_hits} ({secrets.summary()})"),
    ]
    extra = []
    if not outages or not all_reconnected:
        extra.append("a worker did not reconnect after an outage")
    if any(o.results_kept != o.results_before for o in outages):
        extra.append("results were lost across a restart (persistence)")
    if secrets.total_hits:
        extra.append(f"{secrets.total_hits} password hits")
    outage_table = report.table(
        ["down for", "keys before -> after", "results kept", "requests sent while down", "of them",
         "workers reconnected (after Redis was back)"], rows,
    )  # fmt: skip
    return report.Outcome(
        broker=broker,
        duplicates=duplicates,
        name="redis_restart",
        title="Redis restarted mid-run (appendonly yes)",
        argv=[],
        tally=tally,
        deadline=deadline,
        injected=(
            f"{n_requests:,} `mt5.account_info` requests over {n_accounts} accounts at {rate:g}/s from 8 sender "
            f"threads to workers w1 and w2; Redis stopped for {' s, then '.join(f'{d:g}' for d in durations)} s "
            "and started again on the same port with its AOF."
        ),
        settings=env_values(settings),
        figures=figures,
        # kombu's two-step take (docs/brokers.md): a message Redis hands to a worker as it shuts down is off the
        # queue and never reaches the worker's unacked record. At most one per outage, on the Redis broker only.
        tolerated_lost=len(outages) if broker == "redis" else 0,
        extra_problems=extra,
        notes=(RABBITMQ_NOTE if on_rabbitmq else "")
        + f"""\
Each outage ("keys before -> after": the database size just before the stop and just after the start; "results
kept": result keys present before the stop and still there after it, from the AOF; "workers reconnected": when
each worker's consumer logged `Connected to redis://...` again, after Redis was back):

{outage_table}

What happens, and what makes it hold:

- **Workers** lose the broker connection and retry it by themselves (Celery's consumer: after 2 s, then 4, 6,
  8 s ...), so they are back within a few seconds of Redis; nothing needs restarting. A result a worker cannot
  write while Redis is down is written again (`result_backend_always_retry` in `celeryconfig.py`: up to 12
  tries over about a minute). Without it, a task that finished as Redis went down turned into a
  `ConnectionError` failure with no MT5 code (seen in this scenario before the fix).
- **The client** (`MT5Client`) checks that Redis answers before each send and waits up to
  `MT5_PUBLISH_TIMEOUT` (5 s) for it: a request sent during a short outage is published once Redis is back;
  one sent during a longer outage fails after 5 s with `kombu.exceptions.OperationalError` ("Redis unreachable,
  task not sent"), the same error Celery raises when it cannot publish. Without that check Celery's client
  blocked each send about 20 s, one at a time (its result-channel subscription retrying under a lock), and then
  raised `RuntimeError: Retry limit exceeded ... The Celery application must be restarted` (it did not need a
  restart); a burst of sends during a 3 s outage stalled the client for minutes.
- **Persistence**: with `appendonly yes` queued messages, results and the registry survive the restart.
- Residual risk: an `AsyncResult` dropped (garbage-collected) *while* Redis is down unsubscribes from its
  result channel and blocks that thread up to ~20 s (Celery's behaviour); a caller that keeps its
  `AsyncResult` until `get()` returns, as usual, does not meet it. (Not measured here: `get()` called during
  an outage; this scenario reads results from the backend's keys.)
""",
    )


RABBITMQ_NOTE = """\
With RabbitMQ as the broker, the queues are not in the Redis that restarts: the workers' consumers stay
connected and keep receiving, and what the outage interrupts is the writing of results (retried, see below),
the registry (clients route on their last reading) and the sessions' bookkeeping. A client still needs Redis to
send (it subscribes to the task's result channel first), so sends during a long outage are refused as on Redis.
The "workers reconnected" column below is then the time until each worker logged its consumer's connection to
Redis again, when it has one, and is left empty otherwise.

"""


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
