"""The fault campaign's tools in-process: the simulator's scripted crash, the secret scan, redacted positional
passwords."""

from __future__ import annotations

import base64
import json

from mt5_worker.codes import RES_E_INTERNAL_FAIL_SEND
from reliability.secrets_scan import needles
from tests.conftest import creds, simulator


def test_simulator_crashes_on_every_nth_account_info_call_until_initialized() -> None:
    sim = simulator(crash_every=3)
    assert sim.initialize()
    assert sim.login(*creds(sim.accounts[0]))
    assert [True, True, False] == [sim.account_info() is not None for _ in range(3)]
    assert RES_E_INTERNAL_FAIL_SEND == sim.last_error()[0]
    assert not sim.login(*creds(sim.accounts[0]))  # dead for every call, not only account_info
    assert sim.initialize()
    assert sim.account_info() is not None  # 4th call; the 6th crashes again
    assert [True, False] == [sim.account_info() is not None for _ in range(2)]


def test_scan_finds_a_secret_inside_base64_at_any_alignment() -> None:
    secret = "rel-0123456789abcdef"
    for prefix in ("", "x", "xy", "xyz"):
        body = base64.b64encode(json.dumps([[], {"password": prefix + secret}, {}]).encode())
        assert any(n in body for n in needles(secret)), prefix
    assert not any(n in base64.b64encode(b'{"password": "rel-0123456789abcdeX"}') for n in needles(secret)[1:])


def test_account_tasks_redact_positional_passwords_in_the_messages_they_send() -> None:
    from mt5_worker.worker import tasks  # the worker's app: imported here, with the test's isolated settings

    assert "(1, 'S', '**********')" == tasks.redacted_args_repr(tasks.account_info, (1, "S", "pw-Secret"))
    assert "(1, '**********', 'S')" == tasks.redacted_args_repr(tasks.login, (1, "pw-Secret", "S"))
