"""A broker connection lost while the worker holds messages: the restore that has no transport is skipped (the
messages stay in Redis's unacked hash for the visibility timeout), and one that has a transport runs as kombu's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis
from structlog.testing import capture_logs

from mt5_worker.worker import unacked_restore


def _qos(client: Any) -> Any:
    return SimpleNamespace(channel=SimpleNamespace(connection=SimpleNamespace(client=client)), _delivered={"t1": 1})


def test_a_restore_without_a_transport_is_skipped_and_logged_not_raised() -> None:
    qos = _qos(client=None)
    with capture_logs() as logs:
        assert unacked_restore._restore_unacked(qos) is None
    assert {} == qos._delivered
    assert [("mt5.broker.restore_deferred", 1)] == [(e["event"], e["messages"]) for e in logs]


def test_a_restore_with_a_transport_is_kombus_own(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(unacked_restore, "_original", lambda self, client=None: calls.append((self, client)))
    qos = _qos(client=object())
    unacked_restore._restore_unacked(qos)
    assert [(qos, None)] == calls


def test_install_wraps_kombus_redis_qos_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kombu_redis.QoS, "restore_unacked", unacked_restore._original)
    unacked_restore.install()
    unacked_restore.install()
    assert kombu_redis.QoS.restore_unacked is unacked_restore._restore_unacked
