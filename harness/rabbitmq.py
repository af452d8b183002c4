"""RabbitMQ for the harness: which broker to use, a virtual host of its own per fleet, and what its queues hold.

The project's machines run RabbitMQ on 127.0.0.1:5672 (guest/guest); ``MT5_TEST_AMQP_URL`` names another. When
``rabbitmqctl`` works (it needs the broker's Erlang cookie, so root on a packaged install) each fleet gets a vhost
of its own, deleted afterwards, so runs never see each other's queues; otherwise the URL's vhost is used as is.
Results and fleet state stay in Redis: only the queues move.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from kombu.connection import Connection

from mt5_worker.credentials import hide_url_password

URL_VARIABLE = "MT5_TEST_AMQP_URL"
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
CTL_TIMEOUT = 60.0


def amqp_url() -> str:
    """The RabbitMQ to run against: ``MT5_TEST_AMQP_URL``, else the development machines' local broker."""
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why no broker answers at ``url`` (connection and login), or None when one does."""
    conn = Connection(url, connect_timeout=timeout)
    try:
        conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # refused, timed out, bad credentials, no such vhost: all mean "not usable"
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.release()
    return None


def shown(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return hide_url_password(url)


def with_vhost(url: str, vhost: str) -> str:
    """``url`` naming virtual host ``vhost`` instead of its own."""
    parts = urlsplit(url)
    return parts._replace(path="/" + quote(vhost, safe="")).geturl()


def vhost_of(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run ``rabbitmqctl`` (quiet); None when it is not installed."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return None
    try:
        return subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=CTL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


class VirtualHosts:
    """Vhosts made for one run on the broker at ``base_url`` (``mt5-<prefix>-<pid>-<random>-<n>``); :meth:`close`
    deletes them. Where ``rabbitmqctl`` cannot make one (not installed, no permission, another host's broker),
    :meth:`new` answers ``base_url`` itself and :attr:`isolated` says so."""

    def __init__(self, base_url: str, prefix: str = "run") -> None:
        self.base_url = base_url
        self.user = unquote(urlsplit(base_url).username or "guest")
        self._stem = f"mt5-{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        self._numbers = itertools.count(1)
        self.made: list[str] = []
        self.isolated = True

    def new(self) -> str:
        """A broker URL with a fresh, empty vhost of its own (or ``base_url`` when none can be made)."""
        name = f"{self._stem}-{next(self._numbers)}"
        made = rabbitmqctl("add_vhost", name)
        if made is None or made.returncode != 0:
            self.isolated = False
            return self.base_url
        self.made.append(name)
        granted = rabbitmqctl("set_permissions", "-p", name, self.user, ".*", ".*", ".*")
        url = with_vhost(self.base_url, name)
        # rabbitmqctl talks to the local node: if the URL names another broker, the vhost is not there.
        if granted is None or granted.returncode != 0 or unreachable(url) is not None:
            self.isolated = False
            return self.base_url
        return url

    def close(self) -> None:
        for name in self.made:
            rabbitmqctl("delete_vhost", name)
        self.made.clear()


@dataclass(frozen=True)
class QueueDepth:
    """One queue's messages: ``ready`` to deliver, ``unacked`` (delivered, not yet acknowledged)."""

    name: str
    ready: int
    unacked: int


def queue_depths(url: str) -> list[QueueDepth] | None:
    """Every queue of ``url``'s vhost with its ready and unacknowledged messages (``rabbitmqctl``); None if it
    cannot tell."""
    listed = rabbitmqctl(
        "list_queues", "-p", vhost_of(url), "--no-table-headers", "name", "messages_ready", "messages_unacknowledged"
    )
    if listed is None or listed.returncode != 0:
        return None
    depths = []
    for line in listed.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            depths.append(QueueDepth(fields[0], int(fields[1]), int(fields[2])))
    return depths


def task_queue_depths(url: str) -> list[QueueDepth] | None:
    """:func:`queue_depths` of the service's task queues (``mt5*``, ``celery``): not Celery's own control and
    event queues, nor the delayed-delivery ones (``celery_delayed_*``), where a retry waits its countdown."""
    depths = queue_depths(url)
    if depths is None:
        return None
    return [d for d in depths if d.name.startswith("mt5") or d.name == "celery"]


def peek(url: str, queues: Iterable[str]) -> list[bytes]:
    """The bodies of the messages ready in ``queues``, left where they are (taken unacknowledged; the channel's
    close gives them back)."""
    bodies: list[bytes] = []
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            for queue in queues:
                while (message := channel.basic_get(queue=queue, no_ack=False)) is not None:
                    body = message.body
                    bodies.append(body if isinstance(body, bytes) else str(body).encode())
        finally:
            channel.close()
    return bodies


def data_files(since: float) -> list[Path]:
    """RabbitMQ's own files (its message stores and quorum queues' logs) written since ``since`` (unix time), where
    this process can read them: what a message left on the broker's disk. Empty when they cannot be read."""
    roots = [Path(p) for p in (os.environ.get("RABBITMQ_MNESIA_BASE"), "/var/lib/rabbitmq/mnesia") if p]
    found = []
    for root in roots:
        try:
            for path in root.rglob("*"):
                if path.is_file() and path.stat().st_mtime >= since and os.access(path, os.R_OK):
                    found.append(path)
        except OSError:  # not there, or not ours to read
            continue
    return found
