"""Credential fields are encrypted end to end (MT5_CREDENTIALS_KEY): unreadable in Redis, opened by the worker only.

In-process: seal/open, rotation, refusals. With a real worker and Redis: the queued message holds no password
and the call succeeds once a worker consumes it; plaintext and foreign tokens are refused before any SDK call.
"""

from __future__ import annotations

import base64
import json

import pytest
import redis
from cryptography.fernet import Fernet

from mt5_worker.client import MT5Client
from mt5_worker.credentials import SEALED
from mt5_worker.errors import CredentialsError
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

A, B = DEMO_ACCOUNTS[:2]
KEY, OLD_KEY, FOREIGN_KEY = (Fernet.generate_key().decode() for _ in range(3))


# --- in-process ---------------------------------------------------------------------------------------------


# --- a real worker on real Redis ----------------------------------------------------------------------------


def queued_messages(url: str) -> list[tuple[bytes, bytes]]:
    """Every message waiting in a Redis list: (the raw envelope, its base64-decoded body)."""
    r = redis.Redis.from_url(url)
    found = []
    for key in r.scan_iter(count=1000):
        if r.type(key) == b"list":
            for raw in r.lrange(key, 0, -1):
                envelope = json.loads(raw)
                found.append((raw, base64.b64decode(envelope["body"])))
    r.close()
    return found


def test_queued_message_holds_no_password_and_the_call_succeeds_end_to_end(simulator_stack: Stack) -> None:
    client = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings(credentials_key=KEY))
    pending = client.submit_account_info(A.login, A.server, A.password.get_secret_value())  # no worker yet

    messages = queued_messages(simulator_stack.redis_url)
    assert 1 == len(messages), messages
    raw, body = messages[0]
    [args, kwargs, _embed] = json.loads(body)
    assert ([], A.login, [SEALED]) == (args, kwargs["login"], list(kwargs["password"]))
    password = A.password.get_secret_value().encode()
    assert password not in raw and password not in body

    worker = simulator_stack.worker(MT5_CREDENTIALS_KEY=KEY)
    assert A.login == pending.get(timeout=30)["login"]
    assert 1 == len(worker.sdk_calls("login", login=A.login))
    client.close()
    assert A.password.get_secret_value() not in simulator_stack.logs()


def test_worker_with_a_key_refuses_plaintext_and_foreign_tokens_before_the_terminal(simulator_stack: Stack) -> None:
    worker = simulator_stack.worker(MT5_CREDENTIALS_KEY=f"{KEY},{OLD_KEY}")
    password = A.password.get_secret_value()

    with pytest.raises(CredentialsError, match="plaintext password refused"):
        simulator_stack.call("mt5.login", A.login, password, A.server)  # a plain Celery client, no key
    foreign = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings(credentials_key=FOREIGN_KEY))
    with pytest.raises(CredentialsError, match="does not decrypt") as caught:
        foreign.account_info(A.login, A.server, password, timeout=30)
    assert password not in str(caught.value)
    assert [] == worker.sdk_calls("login"), "a refused credential reached the terminal"

    rotated = MT5Client(app=simulator_stack.app, settings=simulator_stack.settings(credentials_key=OLD_KEY))
    assert B.login == rotated.login(B.login, B.password.get_secret_value(), B.server, timeout=30)["login"]
    for client in (foreign, rotated):
        client.close()
    logs = simulator_stack.logs()
    assert password not in logs and B.password.get_secret_value() not in logs
