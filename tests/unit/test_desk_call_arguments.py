"""The desk's calls' arguments, checked before anything touches Redis or the terminal; each error names the
argument; a call's fingerprint is the call, not the price it will be sent at."""

from __future__ import annotations

import pytest

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager import desk_calls
from mt5_worker.terminal import constants as c


def test_bad_arguments_are_refused_naming_them() -> None:
    with pytest.raises(InvalidRequestError, match="ticket"):
        desk_calls.close_position(1, 0, "k")
    with pytest.raises(InvalidRequestError, match="volume"):
        desk_calls.close_position(1, 1, "k", volume=-1)
    with pytest.raises(InvalidRequestError, match="deviation"):
        desk_calls.close_position(1, 1, "k", deviation=1.5)
    with pytest.raises(InvalidRequestError, match="sl"):
        desk_calls.modify_position(1, 1, -1.0, 0.0, "k")
    with pytest.raises(InvalidRequestError, match="idempotency_key"):
        desk_calls.cancel_order(1, 1, "")
    with pytest.raises(InvalidRequestError, match="at most 108"):
        desk_calls.batch(1, "k" * 109)
    with pytest.raises(InvalidRequestError, match="magic"):
        desk_calls.batch(1, "k", magic=-3)
    with pytest.raises(InvalidRequestError, match="symbol"):
        desk_calls.batch(1, "k", symbol="bad symbol")


def test_a_calls_fingerprint_is_its_arguments() -> None:
    first = desk_calls.close_position(7, 11, "k", volume=0.5)
    assert first.fingerprint == desk_calls.close_position(7, 11, "k", volume=0.5).fingerprint
    assert first.fingerprint != desk_calls.close_position(7, 11, "k").fingerprint
    assert first.fingerprint != desk_calls.close_position(8, 11, "k", volume=0.5).fingerprint
    assert first.request == {"action": c.TRADE_ACTION_DEAL, "position": 11, "deviation": 20, "volume": 0.5,
                             "comment": first.tag}  # fmt: skip
    assert first.recorded and first.build is not None
    cancel = desk_calls.cancel_order(7, 12, "k2")
    assert cancel.request == {"action": c.TRADE_ACTION_REMOVE, "order": 12, "comment": cancel.tag}
    assert not cancel.recorded and cancel.build is None
    assert desk_calls.child_key("batch-1", 99) == "batch-1/99"
    batch = desk_calls.batch(7, "b", symbol="EURUSD", magic=5)
    assert batch.selects({"symbol": "EURUSD", "magic": 5}) and not batch.selects({"symbol": "EURUSD", "magic": 6})
    assert desk_calls.batch(7, "b").selects({"symbol": "GBPUSD", "magic": 0})
