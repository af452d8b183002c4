"""Hostile and bad input, property-based (hypothesis), in-process: the task functions on a real manager.

Every bad argument of ``mt5.login`` / ``mt5.account_info`` gets a typed ``InvalidRequestError`` and the
terminal is not touched (the simulator counts every call); every bad setting gets a ``SettingsError`` naming
its variable. Whatever the input, no other exception escapes, and no password (marked ``MARK`` here) reaches
a log, an error or a result. The messages-on-the-wire counterpart is ``test_hostile_messages.py``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5_worker.credentials import SEALED, seal
from mt5_worker.errors import InvalidRequestError, MT5Error
from mt5_worker.fleet.sessions import SessionStore, connect
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.worker import runtime, tasks
from tests.conftest import simulator

MARK = "\u00a7pw\u00a7"  # every generated password contains it: finding it anywhere is a leak
KEY, FOREIGN_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- strategies: (value, verdict) with verdict True = well-formed, False = malformed ---------------------------

anything_but_int = st.one_of(
    st.none(), st.booleans(), st.floats(), st.text(max_size=20), st.binary(max_size=20), st.lists(st.integers())
)
logins = st.one_of(
    st.tuples(st.sampled_from([a.login for a in DEMO_ACCOUNTS]), st.just(True)),
    st.tuples(st.integers(1, 2**63 - 1), st.just(True)),
    st.tuples(st.integers(max_value=0) | st.integers(min_value=2**63), st.just(False)),
    st.tuples(anything_but_int | st.just("10000001") | st.just(10000001.0), st.just(False)),
)
server_text = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=256)  # no spaces
servers = st.one_of(
    st.tuples(st.none() | st.sampled_from(sorted({a.server for a in DEMO_ACCOUNTS})) | server_text, st.just(True)),
    st.tuples(st.just("") | st.text(" \t\r\n", min_size=1, max_size=4) | st.just("x" * 300), st.just(False)),
    st.tuples(st.integers() | st.booleans() | st.floats() | st.lists(server_text, max_size=2), st.just(False)),
)
marked = st.text(max_size=120).map(lambda t: MARK + t)


def passwords(key: str | None) -> st.SearchStrategy[tuple[Any, bool]]:
    """Passwords as the task receives them: sealed with ``key`` when the worker has one."""
    good = marked | st.sampled_from([a.password.get_secret_value() for a in DEMO_ACCOUNTS])
    bad_shapes = st.one_of(
        st.just(""), st.text(min_size=260, max_size=300).map(lambda t: MARK + t), st.integers(), st.floats(),
        st.booleans(), st.lists(marked, max_size=2), st.dictionaries(st.text(max_size=4), marked, max_size=2),
        st.binary(max_size=10).map(lambda b: MARK.encode() + b), st.builds(lambda t: {SEALED: t}, marked),
    )  # fmt: skip
    if key is None:
        return st.one_of(st.tuples(st.none() | good, st.just(True)), st.tuples(bad_shapes, st.just(False)))
    return st.one_of(
        st.tuples(st.none() | good.map(lambda p: seal(p, key)), st.just(True)),
        st.tuples(bad_shapes | good | good.map(lambda p: seal(p, FOREIGN_KEY)) | st.just(seal("", key)),
                  st.just(False)),
    )  # fmt: skip


def requests(key: str | None) -> st.SearchStrategy[tuple[tuple[Any, bool], ...]]:
    """(login, password, server), each drawn alone, or around a real account (so its session gets pooled and
    later requests for it, with bad arguments, meet a pooled session)."""

    def around(account: Any) -> st.SearchStrategy[tuple[tuple[Any, bool], ...]]:
        real = account.password.get_secret_value()
        password = st.just((real if key is None else seal(real, key), True)) | passwords(key)
        return st.tuples(st.just((account.login, True)), password, st.just((account.server, True)) | servers)

    return st.tuples(logins, passwords(key), servers) | st.sampled_from(DEMO_ACCOUNTS).flatmap(around)


# --- a worker runtime in this process: real manager on the simulator, real Redis session store ---------------


class LogCapture(logging.Handler):
    """Everything the standard library loggers (Celery's among them) would write, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def worker_runtime(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], SimulatedTerminal]:
    """Install a runtime like a worker's (optionally with a credentials key) and return its simulator."""

    def install(key: str | None) -> SimulatedTerminal:
        sim = simulator()
        worker_settings = Settings.load(_env_file=None, redis_url=redis_url, credentials_key=key)
        manager = MT5ConnectionManager(sim, worker_settings, sleep=lambda _: None)
        manager.initialize()
        store = SessionStore(connect(redis_url), f"hostile-{key is not None}")
        monkeypatch.setattr(runtime, "_current", runtime.WorkerRuntime(worker_settings, manager, store))
        return sim

    return install


@pytest.fixture
def stdlib_logs() -> Iterator[LogCapture]:
    root, handler = logging.getLogger(), LogCapture()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def run_task(task: Any, kwargs: dict[str, Any], stdlib_logs: LogCapture) -> tuple[Any, str]:
    """The task run as a worker runs it (Celery's tracer, eagerly): its outcome and all it logged or said."""
    stdlib_logs.lines.clear()
    with structlog.testing.capture_logs() as events:  # raw event dicts: before any redaction
        result = task.apply(kwargs=kwargs)
    outcome = result.result
    said = "\n".join([*map(repr, events), *stdlib_logs.lines, repr(outcome), str(outcome), str(result.traceback)])
    return outcome, said


def check_outcome(outcome: Any, said: str, calls: Counter[str], login: Any, malformed: bool, password: Any) -> None:
    assert isinstance(outcome, dict | MT5Error), f"not a typed error: {outcome!r}"
    if malformed:
        assert isinstance(outcome, InvalidRequestError), outcome
        assert Counter() == calls, "malformed input reached the terminal"
    if isinstance(outcome, dict):
        assert login == outcome["login"]
    assert MARK not in said, "a password was logged, returned or echoed in an error"
    secret = password.get(SEALED) if isinstance(password, dict) else password
    if isinstance(secret, str) and len(secret) >= 8:
        assert secret not in said


@pytest.mark.parametrize("key", [None, KEY], ids=["plaintext", "encrypted"])
@pytest.mark.parametrize("task", [tasks.login, tasks.account_info], ids=["login", "account_info"])
def test_task_arguments_bad_values_are_refused_before_the_terminal_and_never_echoed(
    task: Any, key: str | None, worker_runtime: Callable[[str | None], SimulatedTerminal], stdlib_logs: LogCapture
) -> None:
    sim = worker_runtime(key)

    @PROPERTY
    @given(request=requests(key))
    def check(request: tuple[tuple[Any, bool], ...]) -> None:
        login, password, server = request
        before = Counter(sim.calls)
        kwargs = {"login": login[0], "password": password[0], "server": server[0]}
        outcome, said = run_task(task, kwargs, stdlib_logs)
        malformed = not (login[1] and password[1] and server[1])
        check_outcome(outcome, said, Counter(sim.calls) - before, login[0], malformed, password[0])

    check()


def test_the_property_sees_successes_and_refusals(
    worker_runtime: Callable[[str | None], SimulatedTerminal], stdlib_logs: LogCapture
) -> None:
    """The checks above are not vacuous: a good request succeeds through the same path, a bad one is refused."""
    sim = worker_runtime(KEY)
    a = DEMO_ACCOUNTS[0]
    good = {"login": a.login, "password": seal(a.password.get_secret_value(), KEY), "server": a.server}
    outcome, _ = run_task(tasks.account_info, good, stdlib_logs)
    assert a.login == outcome["login"]
    assert 1 == sim.calls["login"]
    outcome, said = run_task(tasks.login, good | {"password": MARK + "plain"}, stdlib_logs)
    assert isinstance(outcome, InvalidRequestError) and "plaintext password refused" in str(outcome)
    assert MARK not in said and 1 == sim.calls["login"]
