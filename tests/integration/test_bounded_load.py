"""Bounded-load routing with real workers and Redis: workers report their backlog, and a client's router sends an
overloaded terminal's account to its next choice, back once loads are fair, and never to a departed worker."""

from __future__ import annotations

import time

import redis
from celery import Celery

from mt5_worker.cli.devstack import RedisServer, wait_for
from mt5_worker.client import MT5Client
from mt5_worker.fleet.registry import WorkerRegistry, load_key
from mt5_worker.fleet.routing import AffinityRouter, ranking, terminal_queue_name
from mt5_worker.fleet.sessions import connect
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS
from mt5_worker.worker.celery_config import celery_config
from mt5_worker.worker.load_report import LoadReporter
from tests.celery_fixtures import Stack

WORKERS = {"w1@test": 20, "w2@test": 20}
# Account_info takes 50 ms on w1 and w2 alike, so a backlog of 60 holds a terminal for about 3 s.
SETTINGS = {"MT5_LOAD_REPORT_INTERVAL": 0.1, "MT5_SIMULATOR_LATENCY": {"account_info": 0.05}}


def test_an_overloaded_terminals_account_spills_to_its_next_choice_and_comes_back(simulator_stack: Stack) -> None:
    stack = simulator_stack
    w1, w2 = stack.start_workers(["w1", "w2"], **SETTINGS)
    hot = next(a for a in DEMO_ACCOUNTS if ranking(a.login, WORKERS)[0] == w1.nodename)
    cool = next(a for a in DEMO_ACCOUNTS if ranking(a.login, WORKERS)[0] == w2.nodename)
    registry = WorkerRegistry(connect(stack.redis_url))
    router = AffinityRouter(registry, cache_seconds=0, load_factor=0.25, load_floor=5)
    assert (w1.queue, w2.queue) == (router.queue_for(hot.login), router.queue_for(cool.login))  # idle: sticky

    kwargs = {"login": hot.login, "server": hot.server, "password": hot.password.get_secret_value()}
    backlog = [stack.app.send_task("mt5.account_info", kwargs=kwargs, queue=w1.queue) for _ in range(60)]
    wait_for(lambda: registry.read(time.time()).loads[w1.nodename].backlog >= 30, 15, "w1 to report its backlog")
    assert w2.queue == router.queue_for(hot.login)  # w1 is past 1.25 x the mean: the hot account's next choice
    assert w2.queue == router.queue_for(cool.login)  # w2's own accounts stay where they are

    client = MT5Client(app=stack.app, settings=stack.settings(routing_load_factor=0.25, routing_load_floor=5))
    client.router.refresh()
    assert w2.queue == client.route(hot.login)
    assert hot.login == client.account_info(hot.login, hot.server, hot.password.get_secret_value())["login"]
    assert [hot.login] == [s["login"] for s in stack.call("mt5.pool_stats", queue=w2.queue)["pool"]]

    assert [hot.login] * 60 == [r.get(timeout=60)["login"] for r in backlog]
    wait_for(lambda: router.queue_for(hot.login) == w1.queue, 15, "the hot account back on w1 once it is idle")

    w1.stop()  # deregistered at once; its last load report (an idle terminal) stays in Redis
    assert connect(stack.redis_url).hget(load_key(), w1.nodename) is not None
    assert w1.nodename not in registry.read(time.time()).loads
    router.refresh()
    assert all(router.queue_for(a.login) == w2.queue for a in DEMO_ACCOUNTS)
    client.close()


def test_a_load_reporter_keeps_its_one_connection_while_its_queue_is_empty(private_redis_server: RedisServer) -> None:
    """On Redis an empty queue is no key, so the passive declaration is refused with a channel error; reporting
    must not reconnect for it (a fleet of idle workers would open two connections per worker per report)."""
    url = private_redis_server.url
    app = Celery("load-report-test", set_as_current=False)
    app.conf.update(celery_config(Settings.load(_env_file=None, redis_url=url)))
    r = redis.Redis.from_url(url)
    reporter = LoadReporter(app, WorkerRegistry(connect(url), ttl=30), "idle@test")
    try:
        reporter.report()  # its connection and the registry's are open from here on
        before = r.info("stats")["total_connections_received"]
        assert [0] * 20 == [reporter.report().backlog for _ in range(20)]
        assert before == r.info("stats")["total_connections_received"]
        app.send_task("mt5.account_info", kwargs={"login": 1, "server": "S"}, queue=terminal_queue_name("idle@test"))
        before = r.info("stats")["total_connections_received"]  # the send's own connections opened
        assert 1 == reporter.report().backlog  # what the queue holds is still counted, on the same connection
        assert before == r.info("stats")["total_connections_received"]
        assert "1 " in str(r.hget(load_key(), "idle@test"))
    finally:
        reporter.close()
