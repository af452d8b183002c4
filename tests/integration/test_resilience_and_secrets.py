"""A real worker keeps serving when its session Redis stops; passwords never land in Redis, results or logs."""

from __future__ import annotations

import redis

from mt5_worker.cli.devstack import RedisServer, wait_for
from mt5_worker.client import MT5Client
from mt5_worker.errors import MT5Error
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack
from tests.conftest import creds

A, B, C = DEMO_ACCOUNTS[:3]


def test_session_redis_stopped_mid_run_does_not_fail_tasks(
    simulator_stack: Stack, private_redis_server: RedisServer
) -> None:
    # The sessions' Redis, not the terminal: on the simulator only (the bridge adds nothing but time).
    worker = simulator_stack.worker(MT5_SESSIONS_REDIS_URL=private_redis_server.url)
    simulator_stack.call("mt5.login", *creds(A))
    private_redis_server.stop()
    assert (
        B.login == simulator_stack.call("mt5.account_info", B.login, B.server, B.password.get_secret_value())["login"]
    )
    assert A.login == simulator_stack.call("mt5.account_info", A.login)["login"]
    stats = simulator_stack.call("mt5.pool_stats")
    assert (False, None, 2) == (stats["redis_available"], stats["redis_sessions"], stats["metrics"]["pool_size"])
    assert worker.events("mt5.sessions.redis_unavailable")
    private_redis_server.start()  # same port, empty: bookkeeping resumes with a full resync
    simulator_stack.call("mt5.account_info", C.login, C.server, C.password.get_secret_value())
    stats = simulator_stack.call("mt5.pool_stats")
    assert (True, {A.login, B.login, C.login}) == (
        stats["redis_available"],
        {s["login"] for s in stats["redis_sessions"]},
    )


def test_no_password_in_redis_task_results_or_logs(stack: Stack) -> None:
    secret = "Never-Store-Me-42"
    stack.worker(MT5_SIMULATOR_FAULTS={"login": {"fail_first": 1, "code": -10002}})
    stack.beat()
    client = MT5Client(app=stack.app, settings=stack.settings())
    results: list[object] = []
    for call in (
        lambda: client.login(*creds(A)),  # retried once (IPC failure), then succeeds
        lambda: client.account_info(A.login, A.server, A.password.get_secret_value()),
        lambda: client.account_info(B.login, B.server, secret),  # refused
        lambda: client.login(B.login, secret, ""),  # invalid
        lambda: client.account_info(C.login, C.server, C.password.get_secret_value()),
    ):
        try:
            results.append(call())
        except MT5Error as exc:
            results.append(f"{exc!r} {exc}")
    results.append(client.pool_stats())
    client.close()
    passwords = [secret] + [a.password.get_secret_value() for a in (A, B, C)]

    r = redis.Redis.from_url(stack.redis_url)
    wait_for(lambda: not r.hlen("unacked"), 10, "all messages acknowledged")
    dump = b""
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        value = {
            b"string": lambda k: r.get(k),
            b"hash": lambda k: r.hgetall(k),
            b"list": lambda k: r.lrange(k, 0, -1),
            b"set": lambda k: r.smembers(k),
            b"zset": lambda k: r.zrange(k, 0, -1),
        }.get(kind, lambda k: b"")(key)
        dump += key + repr(value).encode()
    assert b"celery-task-meta" in dump and b"mt5:w1@test:sessions" in dump  # the scan saw real data
    for password in passwords:
        assert password.encode() not in dump, "a password in Redis"
        assert password not in repr(results), "a password in a task result or error"
        assert password not in stack.logs(), "a password in a worker, beat or bridge log"
