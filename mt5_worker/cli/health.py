"""``mt5-worker health``: is this worker fit to serve? For container healthchecks: JSON on stdout, exit 0 or 1.

Three checks, in order, each skipped once one fails: Redis answers ``PING`` (broker, result backend and session
store); the worker answers Celery's control ``ping``; its terminal is initialized and answers (the
``mt5.health`` task, sent to the worker's own queue ``mt5.terminal.<terminal_id>``), and with
``require_connected`` is also connected to a trade server. Everything runs under
one deadline, ``--timeout``, and a watchdog answers "unhealthy" if anything overstays it: a healthcheck must
never hang.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from celery import Celery
from celery.utils.nodenames import default_nodename
from kombu.utils.url import maybe_sanitize_url

from mt5_worker.cli.feed_health import DEFAULT_MAX_LAG, check_feed
from mt5_worker.errors import SettingsError
from mt5_worker.fleet.routing import terminal_queue_name
from mt5_worker.settings import Settings

DEFAULT_TIMEOUT = 5.0
DESCRIPTION = """\
Check one worker, as a container healthcheck does: Redis answers, the worker answers Celery's ping, and its
terminal is initialized and answering (the mt5.health task on the worker's own queue mt5.terminal.<id>).
Prints one JSON object (healthy, reason, checks) and exits 0 when healthy, else 1. Never hangs: all checks
share --timeout."""
EPILOG = """\
examples:
  mt5-worker health                              # the worker celery@<this hostname>
  mt5-worker health --worker mt5-1@host --timeout 3
  mt5-worker health --feed MetaQuotes-Demo       # a trade server's feed: leading, fresh while its market is open
  docker-compose: healthcheck: {test: ["CMD", "mt5-worker", "health"], interval: 30s, timeout: 10s}"""


@dataclass
class HealthResult:
    healthy: bool
    worker: str
    terminal_id: str
    reason: str | None = None
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    def fail(self, check: str, reason: str, **details: Any) -> HealthResult:
        self.checks[check] = {"ok": False, **details}
        self.healthy, self.reason = False, reason
        return self


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, minimum: float = 0.05) -> float:
        return max(minimum, self.at - time.monotonic())


def celery_app(settings: Settings) -> Celery:
    """A client app with the workers' Celery settings (transport options matter for ``ping``)."""
    app = Celery("mt5-health", set_as_current=False)
    app.config_from_object("celeryconfig")
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        broker_connection_timeout=2.0,
        broker_connection_max_retries=1,
        broker_connection_retry_on_startup=False,
    )
    return app


def check(
    settings: Settings,
    worker: str | None = None,
    terminal_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    require_connected: bool = False,
) -> HealthResult:
    """Run the checks within ``timeout`` seconds (the last one may overrun by a few ms)."""
    started, deadline = time.monotonic(), _Deadline(timeout)
    worker = worker or default_nodename(None)
    terminal_id = terminal_id or settings.worker_id or worker
    result = HealthResult(True, worker, terminal_id)
    try:
        _run(settings, result, deadline, require_connected)
    except Exception as exc:  # e.g. the broker went away between two checks
        result.healthy, result.reason = False, f"health check failed: {type(exc).__name__}: {exc}"
    finally:
        result.elapsed_seconds = round(time.monotonic() - started, 3)
    return result


def _run(settings: Settings, result: HealthResult, deadline: _Deadline, require_connected: bool) -> None:
    urls = [settings.broker_url, settings.result_backend, settings.session_store_url]
    for url in dict.fromkeys(u for u in urls if u.startswith(("redis://", "rediss://", "unix://"))):
        shown = maybe_sanitize_url(url)  # never a password
        client = redis.Redis.from_url(url, socket_connect_timeout=deadline.left(), socket_timeout=deadline.left())
        try:
            client.ping()
        except redis.RedisError as exc:
            result.fail("redis", f"redis unreachable at {shown}: {exc}", url=shown)
            return
        finally:
            client.close()
    result.checks["redis"] = {"ok": True}

    app = celery_app(settings)
    try:
        wait = deadline.left() / 2  # leave the other half to the terminal check
        replies = app.control.ping(destination=[result.worker], timeout=wait)
        if not any(result.worker in reply for reply in replies):
            result.fail("worker", f"worker {result.worker} did not answer ping within {wait:.1f} s")
            return
        result.checks["worker"] = {"ok": True}

        queue = terminal_queue_name(result.terminal_id)
        wait = deadline.left()
        pending = app.send_task("mt5.health", queue=queue, expires=wait)
        try:
            health = pending.get(timeout=wait)
        except Exception as exc:  # timeout, or the task failed: either way the terminal did not answer
            pending.forget()
            reason = f"no answer to mt5.health on queue {queue} within {wait:.1f} s ({type(exc).__name__})"
            result.fail("terminal", reason, queue=queue)
            return
        terminal = {key: health.get(key) for key in ("initialized", "connected", "busy", "backend", "worker_id")}
        # Answering: terminal_info() came back. busy: a long call held the terminal, so it was not asked; it is
        # working. connected (to the trade server) is False until an account logs in, so it is opt-in.
        answering = health.get("terminal_info") is not None or bool(terminal["busy"])
        if not terminal["initialized"]:
            result.fail("terminal", "terminal not initialized", **terminal)
        elif not answering:
            result.fail("terminal", "terminal initialized but not answering terminal_info()", **terminal)
        elif require_connected and not (terminal["connected"] or terminal["busy"]):
            result.fail("terminal", "terminal not connected to a trade server", **terminal)
        else:
            result.checks["terminal"] = {"ok": True, **terminal}
    finally:
        app.close()


def run(
    settings: Settings | None,
    worker: str | None = None,
    terminal_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    require_connected: bool = False,
) -> tuple[int, str]:
    """Exit code and JSON text; a watchdog bounds the whole check to ``timeout`` plus one second. Never 2 (Docker
    reserves it): bad settings are unhealthy too."""
    worker = worker or default_nodename(None)
    try:
        settings = settings if settings is not None else Settings.load()
    except SettingsError as exc:
        result = HealthResult(False, worker, terminal_id or worker, reason=str(exc))
        return 1, json.dumps(asdict(result))
    outcome: list[HealthResult] = []

    def target() -> None:
        outcome.append(check(settings, worker, terminal_id, timeout, require_connected))

    thread = threading.Thread(target=target, name="health", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if outcome:
        result = outcome[0]
    else:
        result = HealthResult(False, worker, terminal_id or settings.worker_id or worker)
        result.reason, result.elapsed_seconds = f"health check did not finish within {timeout} s", timeout + 1.0
    return (0 if result.healthy else 1), json.dumps(asdict(result))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker", help="the worker's Celery nodename (default: celery@<this hostname>)")
    parser.add_argument("--terminal-id", help="its terminal id (default: MT5_WORKER_ID, else the nodename)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds for all checks together ({DEFAULT_TIMEOUT:g})"
    )
    parser.add_argument(
        "--require-connected", action="store_true", help="also fail while the terminal has no trade server connection"
    )
    parser.add_argument("--feed", metavar="SERVER", help="check the feed of trade server SERVER instead of a worker")
    parser.add_argument(
        "--max-lag", type=float, default=DEFAULT_MAX_LAG,
        help=f"--feed: seconds a symbol whose market is open may lag ({DEFAULT_MAX_LAG:g})",
    )  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Print the JSON report; exit status 0 or 1, never 2 (Docker reserves it): bad settings are unhealthy too."""
    if args.feed:
        try:
            found = check_feed(Settings.load(), args.feed, args.max_lag, args.timeout)
        except SettingsError as exc:
            found = {"healthy": False, "feed": args.feed, "reason": str(exc)}
        print(json.dumps(found))
        return 0 if found["healthy"] else 1
    code, report = run(None, args.worker, args.terminal_id, args.timeout, args.require_connected)
    print(report)
    return code
