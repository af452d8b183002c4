"""Prometheus metrics of one worker process: its manager's counters, and the latency of every SDK call.

Counters and gauges are read from ``MT5ConnectionManager.metrics()`` (the ``PoolMetrics`` contract) and the
manager's last known terminal state at scrape time by a custom collector, so nothing is counted twice and a
scrape never calls the terminal; SDK latency is a histogram fed by one of the manager's ``call_hooks``. Each
exporter has its own ``CollectorRegistry``: managers and tests never share series.

The endpoint is served by the process that owns the manager (the prefork child), on ``MT5_METRICS_PORT`` of
``MT5_METRICS_ADDR`` (default 127.0.0.1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from mt5_worker.logging import get_logger
from mt5_worker.manager.connection_manager import MT5ConnectionManager, TerminalState

log = get_logger("mt5_worker.worker.metrics")

# SDK calls take from a millisecond (account_info) to a minute (initialize of a cold terminal).
SDK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ManagerCollector(Collector):
    """Reads a manager's counters and last known terminal state at scrape time.

    Never calls the terminal nor waits for its lock: a scrape's SDK calls would show up as traffic (latency
    histogram, ``mt5.call`` log lines) and queue behind, or ahead of, real requests.
    """

    def __init__(self, manager: MT5ConnectionManager, worker_id: str) -> None:
        self._manager = manager
        self._worker_id = worker_id

    def collect(self) -> Iterator[Metric]:
        m = self._manager.metrics()

        info = InfoMetricFamily("mt5_worker", "This worker's terminal id and backend")
        info.add_metric([], {"worker_id": self._worker_id, "backend": self._manager.backend})
        yield info
        yield _gauge("mt5_pool_sessions", "Account sessions held in the pool", m.pool_size)
        yield _gauge("mt5_pool_capacity", "Most sessions the pool holds (MT5_CONNECTION_POOL_SIZE)", m.pool_capacity)
        active = m.active_login is not None
        yield _gauge("mt5_active_session", "1 while one of the pool's accounts is active in the terminal", active)
        yield _gauge(
            "mt5_terminal_initialized",
            "1 while the terminal is initialized",
            self._manager.state is TerminalState.READY,
        )
        yield _gauge(
            "mt5_terminal_connected",
            "1 while connected to a trade server, as the last login or terminal_info call said",
            self._manager.last_known_connected,
        )
        yield _gauge("mt5_terminal_busy", "1 if a call held the terminal at scrape time", self._manager.busy)
        yield _counter("mt5_logins", "SDK login() calls", m.logins)
        yield _counter("mt5_switches", "Logins back into a pooled session", m.switches)
        yield _counter("mt5_reuses", "Requests served by the already active session, without an SDK call", m.reuses)
        yield _counter("mt5_initializations", "Successful terminal initializations", m.initializations)
        yield _counter("mt5_retries", "Retried attempts after a transient failure", m.retries)
        evictions = CounterMetricFamily("mt5_evictions", "Sessions logged out of the pool", labels=["reason"])
        evictions.add_metric(["idle"], m.idle_evictions)
        evictions.add_metric(["lru"], m.lru_evictions)
        yield evictions
        failures = CounterMetricFamily("mt5_failures", "Failed SDK calls by MT5 error code", labels=["code"])
        for code, count in sorted(m.failures_by_code.items()):
            failures.add_metric([str(code)], count)
        yield failures
        yield _gauge(
            "mt5_last_failure_timestamp_seconds",
            "Unix time of the last failed SDK call (0: none yet)",
            m.last_failure_at or 0,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)  # exposed as <name>_total


class ManagerMetrics:
    """A registry with one manager's collector and SDK-latency histogram; hooks itself into the manager."""

    def __init__(self, manager: MT5ConnectionManager, worker_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.sdk_duration = Histogram(
            "mt5_sdk_call_duration_seconds",
            "Duration of SDK calls made through the manager, by function",
            ["function"],
            buckets=SDK_BUCKETS,
            registry=self.registry,
        )
        self.sdk_failures = Counter(
            "mt5_sdk_failures",
            "Failed SDK calls by function and MT5 error code (login refusals are code -6)",
            ["function", "code"],
            registry=self.registry,
        )
        self.registry.register(ManagerCollector(manager, worker_id))
        ProcessCollector(registry=self.registry)  # process_* of this child: CPU, memory, start time (Linux)
        manager.call_hooks.append(self.observe)

    def observe(self, function: str, seconds: float, ok: bool, code: int) -> None:
        self.sdk_duration.labels(function).observe(seconds)
        if not ok:
            self.sdk_failures.labels(function, str(code)).inc()

    def render(self) -> bytes:
        """The exposition text, as the endpoint serves it."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str, bind_timeout: float = 30.0) -> MetricsServer:
        return MetricsServer(self.registry, port, addr, bind_timeout)


class MetricsServer:
    """The HTTP endpoint, started in a background thread that keeps trying to bind for ``bind_timeout`` s:
    a child that replaces a killed one may start before the old one's socket is gone."""

    def __init__(self, registry: CollectorRegistry, port: int, addr: str, bind_timeout: float) -> None:
        self.port = port
        self._registry = registry
        self._addr = addr
        self._bind_timeout = bind_timeout
        self._server: WSGIServer | None = None
        self._stopped = threading.Event()
        self.bound = threading.Event()
        threading.Thread(target=self._bind, name="mt5-metrics-bind", daemon=True).start()

    def _bind(self) -> None:
        deadline = time.monotonic() + self._bind_timeout
        while not self._stopped.is_set():
            try:
                server, _ = start_http_server(self.port, self._addr, self._registry)
            except OSError as exc:
                if time.monotonic() > deadline:
                    log.error("mt5.metrics.bind_failed", port=self.port, error=str(exc))
                    return
                self._stopped.wait(0.2)
                continue
            self._server = server
            self.bound.set()
            log.info("mt5.metrics.serving", port=self.port, addr=self._addr)
            if self._stopped.is_set():  # stop() ran while we were binding
                self._close()
            return

    def stop(self) -> None:
        self._stopped.set()
        self._close()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
