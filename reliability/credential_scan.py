"""After a full mixed run, search everything the stack left for every password: Redis, logs, results, Flower.

    .venv/bin/python -m reliability.credential_scan [--quick] [--docs PATH] [--keep-logs]

The stack: Redis with ``--appendonly yes``, worker w1 on the simulator and worker w2 on a bridge (so passwords
cross the bridge's wire too), one beat sweeping every second, and Flower behind basic auth. The traffic, all
through ``MT5Client``: ``mt5.account_info`` with passwords (the first two and then 10% of ``login()`` calls fail
with an IPC error, so Celery re-sends those messages itself), ``mt5.login``, pooled requests without a
password, wrong passwords (refused, -6) and invalid requests carrying a password (refused, -2). Then every
Redis key (every type, queued message bodies base64-decoded), the AOF, every line of every process's log,
every task result and every Flower API answer are searched for each password (plain, and in base64 at any
alignment).

The full run does it twice: without ``MT5_CREDENTIALS_KEY`` (the default: a message body is only base64, so the
AOF holds every password ever queued) and with it (passwords sealed with Fernet in task messages); ``--quick``
runs the default only. With ``--broker rabbitmq`` the queues are on RabbitMQ: what its task queues still hold
and, where this process can read them, the broker's own files written during the run are searched too.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from harness import rabbitmq
from harness.accounts import write_accounts
from harness.flower import datatable_query
from mt5_worker.cli.devstack import wait_for
from reliability import report, traffic
from reliability.processes import Fleet, make_accounts
from reliability.secrets_scan import ScanReport, scan

FLOWER_USER = "ops"
FAULTS = {"login": {"fail_first": 2, "rate": 0.1, "code": -10004}}  # retried: the message is sent again


@dataclass
class Variant:
    tally: traffic.Tally
    found: ScanReport  # account passwords and the wrong passwords sent
    other: ScanReport  # bridge token, Flower password, Fernet key
    flower_tasks: int
    retries: int


def variant(logs: Path, quick: bool, key: str | None, broker: str = "redis") -> Variant:
    """One run, and its scan."""
    n_accounts, n_requests = (12, 120) if quick else (30, 600)
    deadline = 60.0
    accounts = make_accounts(n_accounts)
    wrong = [f"wrong-{secrets.token_hex(8)}" for _ in range(4)]
    flower_auth = f"{FLOWER_USER}:{secrets.token_urlsafe(12)}"
    keyed: dict[str, Any] = {"MT5_CREDENTIALS_KEY": key} if key else {}
    started = time.time()
    keyed_client = {"credentials_key": key} if key else {}
    fleet = Fleet(logs, redis_args=["--appendonly", "yes"], broker=broker, forked=quick, **keyed_client)
    requests: list[traffic.Request] = []
    try:
        file = write_accounts(logs / "accounts.json", accounts)
        simulator: dict[str, Any] = {"MT5_SIMULATOR_ACCOUNTS": str(file),
                     "MT5_SIMULATOR_FAULTS": json.dumps(FAULTS)}  # fmt: skip
        settings: dict[str, Any] = {"MT5_CONNECTION_RETRY_BACKOFF_MAX": 1, "MT5_CONNECTION_IDLE_TIMEOUT": 2, **keyed}
        # w2's terminal is behind a bridge of its own, so passwords cross the bridge's wire too.
        workers = fleet.wait_serving([
            fleet.worker("w1", wait=False, **settings, **simulator),
            fleet.worker("w2", wait=False, bridged=True, MT5_BRIDGE_TIMEOUT=10.0, **settings, **simulator),
        ])  # fmt: skip
        bridge = workers[1].bridge
        assert bridge is not None
        fleet.beat(MT5_IDLE_SWEEP_INTERVAL=1)
        flower = fleet.flower(flower_auth).api()
        # Flower answers HTTP before its event receiver is connected, and misses the events sent before then:
        # traffic starts once it has seen a task end.
        probes: list[str] = []

        def flower_follows() -> bool:
            tasks = flower.json("/api/tasks?limit=100000")
            if any(tasks.get(p, {}).get("state") == "SUCCESS" for p in probes):
                return True
            probes.append(fleet.app.send_task("mt5.health").id)  # one sent before it listened is never seen
            return False

        wait_for(flower_follows, 60, "flower to see a task end", poll=1.0)

        requests += traffic.paced(fleet, accounts, n_requests, 40.0, deadline, seed=19)
        requests += [traffic.send(fleet, a, deadline, task="login") for a in accounts[:6]]
        requests += [traffic.send(fleet, a, deadline, with_password=False) for a in accounts[:6]]  # pooled
        requests += [traffic.send(fleet, a, deadline, password=w) for a, w in zip(accounts[6:], wrong, strict=False)]
        requests += [traffic.send(fleet, a, deadline, server="") for a in accounts[:2]]  # invalid: refused
        traffic.collect(fleet, requests, grace=30)
        traffic.wait_quiet(fleet)
        ids = {r.task_id for r in requests if r.task_id}

        def seen() -> bool:
            tasks = flower.json("/api/tasks?limit=100000")
            return ids <= {t for t, v in tasks.items() if v.get("state") in ("SUCCESS", "FAILURE")}

        wait_for(seen, 30, "flower to see every task")
        for task_id in sorted(ids):
            flower.text(f"/api/task/info/{task_id}")
            flower.text(f"/api/task/result/{task_id}")
        for path in ("/api/workers?refresh=true", "/api/task/types", f"/tasks/datatable?{datatable_query(10_000)}",
                     "/tasks", "/workers", "/metrics", *(f"/task/{t}" for t in sorted(ids)[:20])):  # fmt: skip
            flower.text(path)
        tally = traffic.Tally.of(requests)
        time.sleep(0.5)  # the last log lines flushed
        logs_text = fleet.log_files()
        found = scan(
            [a.password.get_secret_value() for a in accounts] + wrong,
            fleet.r, logs_text, results=[r.meta for r in requests], persistence=logs, flower=flower.bodies,
        )  # fmt: skip
        others = [bridge.token, flower_auth.split(":", 1)[1], *([key] if key else [])]
        other = scan(others, fleet.r, logs_text, results=[r.meta for r in requests], flower=flower.bodies)
        if fleet.on_rabbitmq:
            scan_rabbitmq(fleet, started, [a.password.get_secret_value() for a in accounts] + wrong, found)
        retries = traffic.retries(workers)
    finally:
        fleet.close()
    return Variant(tally, found, other, len(ids), retries)


def scan_rabbitmq(fleet: Fleet, since: float, passwords: list[str], found: ScanReport) -> None:
    """What RabbitMQ holds: the messages still in the task queues, and its data files written since ``since``
    (quorum queues write every message to disk), when this process may read them."""
    depths = rabbitmq.task_queue_depths(fleet.broker_url) or []
    queued = rabbitmq.peek(fleet.broker_url, [d.name for d in depths if d.ready])
    found.add("rabbitmq queued messages", b"\n".join(queued), passwords, size=sum(map(len, queued)))
    files = rabbitmq.data_files(since)
    if files:
        found.add("rabbitmq data files", b"\n".join(f.read_bytes() for f in files), passwords)


def run(quick: bool, logs: Path, broker: str = "redis") -> report.Outcome:
    # --quick: the default configuration only, the harder case for everything but the AOF.
    keys = {"without a key (default)": None} | ({} if quick else {"with MT5_CREDENTIALS_KEY": Fernet.generate_key()})
    names = list(keys)
    results = {}
    for i, (name, key) in enumerate(keys.items()):
        sub = logs / f"variant{i + 1}"
        sub.mkdir()
        results[name] = variant(sub, quick, key.decode() if key else None, broker)

    tally = results[names[0]].tally
    for other_tally in [v.tally for v in list(results.values())[1:]]:
        for field in ("sent", "succeeded", "wrong_account", "failed_coded", "failed_uncoded", "refused_at_send",
                      "hung", "lost"):  # fmt: skip
            setattr(tally, field, getattr(tally, field) + getattr(other_tally, field))
        tally.codes.update(other_tally.codes)
        tally.latencies += other_tally.latencies
    sources = sorted({s for v in results.values() for s in v.found.scanned})
    rows = [
        (source, *(f"{v.found.hits[source]} in {v.found.scanned[source]:,} {_unit(source)}"
                   for v in results.values()))
        for source in sources
    ]  # fmt: skip
    rows.append(("other secrets (bridge token, Flower password, Fernet key), all sources",
                 *(str(v.other.total_hits) for v in results.values())))  # fmt: skip
    extra = []
    for name, v in results.items():
        # Without the key, queued messages reach the broker's disk with their passwords (base64 in the AOF).
        allowed = {"redis persistence files", "rabbitmq data files"} if keys[name] is None else set()
        bad = {s: n for s, n in v.found.hits.items() if n and s not in allowed}
        if bad or v.other.total_hits:
            extra.append(f"{name}: secrets found in {bad or 'other secrets'}")
        if not (v.found.scanned["flower api"] and v.found.scanned["redis persistence files"] and v.flower_tasks):
            extra.append(f"{name}: a source was not scanned")
        if not v.retries:
            extra.append(f"{name}: no task was retried (the retry path went untested)")
    figures: list[tuple[str, object]] = [
        (f"{name}: password hits / other secret hits / tasks in Flower / Celery retries",
         f"{v.found.total_hits} / {v.other.total_hits} / {v.flower_tasks} / {v.retries}")
        for name, v in results.items()
    ]  # fmt: skip
    scan_table = report.table(["source", *names], rows)
    return report.Outcome(
        broker=broker,
        name="credential_scan",
        title="Credential scan after a full run",
        argv=[],
        tally=tally,
        deadline=60.0,
        injected=(
            "a mixed run (see the script's docstring): account_info with passwords, the first two and then 10% of "
            "the terminal's logins failing (retried), "
            "logins, pooled requests, 4 wrong passwords, 2 invalid requests with a password; worker w1 on the "
            f"simulator, w2 behind a bridge, a beat, Flower. Variants: {', '.join(names)}."
        ),
        settings={
            "MT5_CONNECTION_IDLE_TIMEOUT": "2",
            "MT5_IDLE_SWEEP_INTERVAL": "1",
            "MT5_SIMULATOR_FAULTS": json.dumps(FAULTS),
        },
        figures=figures,
        extra_problems=extra,
        notes=f"""\
Hits of any account password (and of the wrong passwords sent) per source; each source's size shows it was
really read:

{scan_table}

What is searched: every Redis key of every type (strings, hashes, lists, sets, sorted sets; queued and
unacknowledged kombu messages with their base64 bodies decoded), Redis's AOF files, every line of every
process's log (workers, beat, bridge, Flower, Redis), every task result the client read, and Flower's answers
to `/api/tasks`, `/api/task/info/<id>` and `/api/task/result/<id>` for every task, `/api/workers`,
`/tasks/datatable`, `/metrics` and task pages. Each secret is searched as is and base64-encoded at all three
alignments. Without `MT5_CREDENTIALS_KEY` the AOF keeps every queued task message (`LPUSH` of its base64
body) until Redis rewrites it, so the passwords are readable on disk by whoever can read the AOF or a backup:
set the key in production (docs/security.md). With the key the AOF holds only Fernet tokens. Before the
fix in `tasks.py`, the default configuration also showed the password of every retried request in Flower's
API (29 passwords in the first full run): Celery's autoretry re-sent those tasks without the redacted
`kwargsrepr` that `MT5Client` sets.
"""
        + (RABBITMQ_NOTE if broker == "rabbitmq" else ""),
    )


RABBITMQ_NOTE = """
With `--broker rabbitmq` the queues are on RabbitMQ, and what its task queues still hold and the broker's data
files written during the run (read here as root) are searched too: quorum queues write every message to disk,
so without the key those files hold the queued passwords, as the AOF does with Redis; with it, only Fernet tokens.
"""


def _unit(source: str) -> str:
    return "keys" if source == "redis keys" else "lines" if source == "log lines" else "bytes"


def main(argv: list[str] | None = None) -> int:
    return report.cli(run, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
