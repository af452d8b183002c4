"""What the scenarios add to :class:`harness.fleet.Fleet` to break a stack: their accounts, a bridge that stalls.

The stack itself (a private Redis, workers, beats, bridges, Flower, every process with a log file of its own
per incarnation, so the credential scan can read every line every process wrote) is the harness's.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import fleet, rabbitmq
from harness.processes import LOOPBACK
from mt5_worker.simulator.specs import AccountSpec


class Fleet(fleet.Fleet):
    """A private Redis (``redis_args``: e.g. ``--appendonly yes``) and workers named ``name@reliability``;
    ``client_settings`` configure the scenario's ``MT5Client`` (e.g. ``credentials_key``).

    ``broker="rabbitmq"`` puts the queues on RabbitMQ (:mod:`harness.rabbitmq`: a vhost of the run's own, deleted
    by :meth:`close`), the results and fleet state staying in the private Redis."""

    def __init__(
        self, log_dir: Path, redis_args: Sequence[str] = (), broker: str = "redis", **client_settings: Any
    ) -> None:
        self.vhosts: rabbitmq.VirtualHosts | None = None
        broker_url = None
        if broker == "rabbitmq":
            self.vhosts = rabbitmq.VirtualHosts(rabbitmq.amqp_url(), "reliability")
            broker_url = self.vhosts.new()
            problem = rabbitmq.unreachable(broker_url)
            if problem is not None:
                self.vhosts.close()
                where = rabbitmq.shown(broker_url)
                raise SystemExit(f"no RabbitMQ answers at {where} ({problem}); set {rabbitmq.URL_VARIABLE}")
        elif broker != "redis":
            raise ValueError(f"unknown broker {broker!r}: redis or rabbitmq")
        try:
            super().__init__(log_dir, redis_args=redis_args, host="reliability", broker_url=broker_url,
                             **client_settings)  # fmt: skip
        except BaseException:
            if self.vhosts is not None:
                self.vhosts.close()
            raise

    @property
    def on_rabbitmq(self) -> bool:
        return self.vhosts is not None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.vhosts is not None:
                self.vhosts.close()


def make_accounts(n: int, first_login: int = 40_000_001, server: str = "Reliability-Demo") -> list[AccountSpec]:
    """``n`` accounts with random passwords (unique strings the credential scan can look for)."""
    return [
        AccountSpec.model_validate({
            "login": first_login + i, "password": f"rel-{secrets.token_hex(10)}", "server": server,
            "name": f"Reliability {first_login + i}", "balance": 1_000.0 + i,
        })
        for i in range(n)
    ]  # fmt: skip


class SilentListener:
    """A TCP server that accepts every connection and never sends a byte: a bridge that has stalled."""

    def __init__(self, port: int) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, port))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-listener", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self._sock.accept()
                self._held.append(conn)  # kept open, never answered

    @property
    def accepted(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()


def sleep_until(moment: float) -> None:
    """Sleep until ``time.time()`` reaches ``moment``."""
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
