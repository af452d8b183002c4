"""A worker survives losing its Redis broker while it holds unacknowledged messages.

When the broker connection drops, Celery closes the connection, and kombu's Redis channel tries to put the
messages the worker holds back on their queues (``QoS.restore_unacked``). If the connection's transport was
already detached, kombu 5.7 fails there with ``AttributeError`` ('NoneType' object has no attribute
'hostname'), which Celery treats as unrecoverable: the whole worker exits. Redis is usually down at that very
moment anyway, so the restore could not succeed; the messages are still in Redis's ``unacked`` hash, and kombu
restores them once the visibility timeout (``MT5_BROKER_VISIBILITY_TIMEOUT``) has passed, as after a worker's
death. So the guard skips a restore that has no transport to restore through, logs it, and the worker
reconnects when Redis is back.

:func:`install` applies the guard once per process (``mt5_worker.worker.app`` calls it).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

from mt5_worker.logging import get_logger

log = get_logger("mt5_worker.worker.unacked_restore")
_original = kombu_redis.QoS.restore_unacked


def _restore_unacked(self: Any, client: Any = None) -> Any:
    if client is None and getattr(self.channel.connection, "client", None) is None:
        held = len(self._delivered)
        log.warning("mt5.broker.restore_deferred", messages=held, reason="broker connection already closed")
        self._delivered.clear()  # still in Redis's unacked hash: restored after the visibility timeout
        return None
    return _original(self, client)  # type: ignore[no-untyped-call]  # kombu ships no type hints


def install() -> None:
    """Guard kombu's Redis ``QoS.restore_unacked`` (idempotent)."""
    if kombu_redis.QoS.restore_unacked is not _restore_unacked:
        kombu_redis.QoS.restore_unacked = _restore_unacked  # type: ignore[method-assign]
