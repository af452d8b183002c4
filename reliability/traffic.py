"""Requests as a web app sends them (``MT5Client.submit_account_info``), and the tally of what became of each.

Every request has a deadline (sent + ``deadline`` seconds). Outcomes, read from the result backend's keys
(``celery-task-meta-<id>``, ``date_done`` written by the worker):

- *succeeded*: a result by its deadline, for the account asked for;
- *wrong account*: a result by its deadline whose ``login`` is not the one asked for;
- *failed, MT5 code*: an error by its deadline that is a typed ``MT5Error`` (it carries ``code`` and message);
- *failed, no code*: any other error by its deadline (``TimeLimitExceeded``, ``WorkerLostError``, ...);
- *refused at send*: ``submit_account_info`` raised (the broker was unreachable): the caller got a clear error;
- *hung*: finished after its deadline, or still running (``STARTED``/``RETRY``) when the scenario gave up, or
  ``submit_account_info`` itself kept the caller waiting past the deadline;
- *lost*: nothing at all, no result and no error, when the scenario gave up (deadline + grace).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from harness import rabbitmq
from harness.processes import WorkerProcess
from mt5_worker import errors
from mt5_worker.fleet.sessions import REDIS_DOWN
from mt5_worker.simulator.specs import AccountSpec
from reliability.processes import Fleet, sleep_until

READY = frozenset({"SUCCESS", "FAILURE"})


@dataclass
class Request:
    login: int
    sent_at: float  # unix time the client started sending it
    deadline: float
    task_id: str | None = None
    send_error: str | None = None  # type and message of what submit_account_info raised
    send_seconds: float = 0.0  # how long submit_account_info took to return or raise
    handle: Any = None  # the AsyncResult, when kept alive as a caller waiting on it would (see paced)
    meta: dict[str, Any] | None = None  # result meta once read (READY, or the last state seen)

    @property
    def done_at(self) -> float | None:
        if self.meta is None or self.meta.get("status") not in READY:
            return None
        return datetime.fromisoformat(self.meta["date_done"]).timestamp()


def send(
    fleet: Fleet,
    account: AccountSpec,
    deadline: float,
    with_password: bool = True,
    *,
    password: str | None = None,
    server: str | None = None,
    task: str = "account_info",
    keep: bool = False,
) -> Request:
    """One ``mt5.account_info`` (or ``mt5.login``) through ``MT5Client``, with the account's own password and
    server unless others are given; never raises (a refused send is recorded)."""
    request = Request(account.login, time.time(), time.time() + deadline)
    if password is None and with_password:
        password = account.password.get_secret_value()
    server = account.server if server is None else server
    try:
        if task == "login":
            result = fleet.client.submit_login(account.login, password or "", server, expires=deadline)
        else:
            result = fleet.client.submit_account_info(account.login, server, password, expires=deadline)
        request.task_id = result.id
        request.handle = result if keep else None
    except Exception as exc:  # the caller's view: a clear error at send time, never silence
        request.send_error = f"{type(exc).__name__}: {exc}"
    request.send_seconds = time.time() - request.sent_at
    return request


def paced(
    fleet: Fleet,
    accounts: Sequence[AccountSpec],
    count: int,
    rate: float,
    deadline: float,
    seed: int,
    senders: int = 1,
    keep: bool = False,
) -> list[Request]:
    """``count`` requests for random accounts, scheduled ``rate`` per second, sent by ``senders`` threads (so a
    send blocked on an unreachable broker does not hold back the others).

    ``keep``: hold each ``AsyncResult`` until the results are collected, as a caller waiting on it does. Dropping
    one unsubscribes from its result channel, which blocks for up to ~20 s if Redis is down at that moment.
    """
    rng = random.Random(seed)
    picks = [rng.choice(accounts) for _ in range(count)]
    start = time.time()
    slots: list[Request | None] = [None] * count
    next_index = iter(range(count))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            sleep_until(start + i / rate)
            slots[i] = send(fleet, picks[i], deadline, keep=keep)

    threads = [threading.Thread(target=run, name=f"sender-{n}") for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in slots if r is not None]


def collect(fleet: Fleet, requests: Sequence[Request], grace: float, poll: float = 0.25) -> None:
    """Read results until every request is ready, or the last deadline plus ``grace`` has passed, or every request
    still waiting is nowhere (see :func:`nowhere`).

    Redis may be down meanwhile (a scenario restarting it): reads are retried until the end.
    """
    pending = [r for r in requests if r.task_id is not None and r.done_at is None]
    give_up = max([r.deadline for r in requests] + [time.time()]) + grace
    quiet_since: float | None = None
    while True:
        still = []
        try:
            for chunk in _chunks(pending, 2000):
                raws = fleet.r.mget([f"celery-task-meta-{r.task_id}" for r in chunk])
                for request, raw in zip(chunk, raws, strict=True):
                    if raw:
                        request.meta = json.loads(raw)
                    if request.done_at is None:
                        still.append(request)
        except REDIS_DOWN:
            still = pending
        pending = still
        if not pending or time.time() > give_up:
            return
        if nowhere(fleet, pending):
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since >= QUIET_BEFORE_LOST:
                return
        else:
            quiet_since = None
        time.sleep(poll)


# A request is counted lost once the broker has held no message at all for this long while it had no result:
# waiting out its deadline (a minute and more) would add nothing but time.
QUIET_BEFORE_LOST = 2.0


def nowhere(fleet: Fleet, pending: Sequence[Request]) -> bool:
    """True if no request of ``pending`` was ever started (no result of any state) and the broker holds no message,
    queued or unacknowledged: a worker stores a result before it acknowledges, so such a request is in no queue,
    no worker and no result — lost. Asked only then, as ``rabbitmqctl`` costs a second of CPU."""
    return all(r.meta is None for r in pending) and broker_messages(fleet) == (0, 0)


@dataclass
class Tally:
    sent: int = 0
    succeeded: int = 0
    wrong_account: int = 0
    failed_coded: int = 0
    failed_uncoded: int = 0
    refused_at_send: int = 0
    hung: int = 0
    lost: int = 0
    codes: Counter[int] = field(default_factory=Counter)  # MT5 codes of the failures
    uncoded: Counter[str] = field(default_factory=Counter)  # error types without an MT5 code
    send_errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # sent -> done, of the requests done by their deadline
    slowest_send: float = 0.0  # seconds the slowest submit_account_info call took
    suspects: list[str] = field(default_factory=list)  # task ids of lost and hung requests, to look them up

    @classmethod
    def of(cls, requests: Sequence[Request]) -> Tally:
        tally = cls(sent=len(requests))
        for r in requests:
            tally.add(r)
        return tally

    def add(self, r: Request) -> None:
        self.slowest_send = max(self.slowest_send, r.send_seconds)
        if r.task_id is None:
            if r.sent_at + r.send_seconds > r.deadline:
                self.hung += 1  # the caller was kept waiting past its deadline, even if it got an error then
            else:
                self.refused_at_send += 1
            self.send_errors[(r.send_error or "").split(":")[0]] += 1
            return
        done = r.done_at
        if done is None:
            state = (r.meta or {}).get("status")
            if state is None or state == "PENDING":
                self.lost += 1
            else:
                self.hung += 1  # someone holds it (STARTED, RETRY) but it never finished
            self.suspects.append(f"{r.task_id} ({state or 'no result'})")
            return
        if done > r.deadline:
            self.hung += 1
            self.suspects.append(f"{r.task_id} (done {done - r.deadline:.1f} s late)")
            return
        self.latencies.append(done - r.sent_at)
        assert r.meta is not None
        if r.meta["status"] == "SUCCESS":
            if r.meta["result"].get("login") == r.login:
                self.succeeded += 1
            else:
                self.wrong_account += 1
            return
        code, kind = mt5_code(r.meta["result"])
        if code is None:
            self.failed_uncoded += 1
            self.uncoded[kind] += 1
        else:
            self.failed_coded += 1
            self.codes[code] += 1

    def problems(self) -> list[str]:
        """The campaign's invariants, broken ones named."""
        uncoded = f"failed without an MT5 code ({', '.join(f'{k} x{n}' for k, n in self.uncoded.most_common())})"
        found = [f"{n} {what}" for n, what in ((self.lost, "lost"), (self.hung, "hung"),
                 (self.wrong_account, "wrong-account"), (self.failed_uncoded, uncoded))
                 if n]  # fmt: skip
        accounted = self.succeeded + self.wrong_account + self.failed_coded + self.failed_uncoded
        if accounted + self.refused_at_send + self.hung + self.lost != self.sent:
            found.append("tally does not add up")
        return found

    def latency(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def mt5_code(error: dict[str, Any]) -> tuple[int | None, str]:
    """The MT5 code of a stored task error, rebuilt as its typed exception; ``None`` if it is not an MT5Error."""
    kind = str(error.get("exc_type"))
    cls = getattr(errors, kind, None) if error.get("exc_module") == errors.__name__ else None
    if not (isinstance(cls, type) and issubclass(cls, errors.MT5Error)):
        return None, kind
    try:
        exc = cls(*error.get("exc_message", ()))
    except TypeError:
        return None, kind
    return (exc.code if isinstance(exc.code, int) else None), kind


# --- what the workers' logs say -----------------------------------------------------------------------------

_FINISHED = re.compile(r"Task mt5\.account_info\[([0-9a-f-]{36})\] (?:succeeded in|raised)")
_RETRIED = re.compile(r"Task mt5\.account_info\[([0-9a-f-]{36})\] retry:")


def executions(workers: Sequence[WorkerProcess]) -> Counter[str]:
    """How many times each ``mt5.account_info`` task ran to completion (success or final error), by task id,
    across every incarnation of every worker. A count above 1 is a duplicate execution."""
    return Counter(m.group(1) for w in workers for m in _FINISHED.finditer(w.log_text()))


def event_time(event: dict[str, Any]) -> float:
    """Unix time of a structlog event (its ISO UTC ``timestamp``)."""
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def retries(workers: Sequence[WorkerProcess]) -> int:
    return sum(len(_RETRIED.findall(w.log_text())) for w in workers)


def sdk_failures(workers: Sequence[WorkerProcess]) -> Counter[tuple[str, int]]:
    """Failed SDK calls by (function, MT5 code), from the manager's ``mt5.call`` log lines."""
    found: Counter[tuple[str, int]] = Counter()
    for worker in workers:
        for event in worker.events("mt5.call", ok=False):
            found[(event["function"], event["mt5_code"])] += 1
    return found


def wait_quiet(fleet: Fleet, timeout: float = 30.0) -> tuple[int, int]:
    """Wait until no message is queued or held unacknowledged (so a scan sees the end state); returns what is
    left then: (queued, unacknowledged); (-1, -1) if the broker could not be asked."""
    end = time.time() + timeout
    left = (-1, -1)
    while time.time() < end:
        left = broker_messages(fleet)
        if left == (0, 0):
            break
        time.sleep(0.25)
    return left


def broker_messages(fleet: Fleet) -> tuple[int, int]:
    """Messages in the task queues now: (queued, unacknowledged); (-1, -1) if the broker could not be asked.

    Redis: the queues' lists and kombu's ``unacked`` hash. RabbitMQ: ``rabbitmqctl``'s counts for the task queues
    (not the delayed-delivery queues, where a retry waits its countdown)."""
    if fleet.on_rabbitmq:
        depths = rabbitmq.task_queue_depths(fleet.broker_url)
        if depths is None:
            return (-1, -1)
        return (sum(d.ready for d in depths), sum(d.unacked for d in depths))
    try:
        queued = sum(int(fleet.r.llen(k)) for k in fleet.r.scan_iter("mt5*") if fleet.r.type(k) == b"list")
        return (queued, int(fleet.r.hlen("unacked")))
    except redis.RedisError:
        return (-1, -1)


def run_in_background(action: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=action, name=name, daemon=True)
    thread.start()
    return thread


def _chunks(items: Sequence[Request], size: int) -> list[Sequence[Request]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
