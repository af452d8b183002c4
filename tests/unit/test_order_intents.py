"""Order requests made ready for exactly-once sending: validation of every field, the key, the tag in the comment,
the fingerprint that tells the same request from a different one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mt5_worker.errors import InvalidRequestError
from mt5_worker.manager.order_intents import (
    COMMENT_LIMIT,
    TAG_LENGTH,
    USER_COMMENT_LIMIT,
    matches,
    prepare,
    tag_of,
    tagged,
)
from mt5_worker.terminal import constants as c

BUY = {"action": "deal", "symbol": "EURUSD", "volume": 0.1, "type": "buy", "type_filling": "ioc"}


def test_names_become_the_sdk_integers_and_the_tag_leads_the_comment() -> None:
    intent = prepare(10000001, BUY | {"comment": "mine", "magic": 7}, "order-1")
    r = intent.request
    assert (r["action"], r["type"], r["type_filling"]) == (c.TRADE_ACTION_DEAL, c.ORDER_TYPE_BUY, c.ORDER_FILLING_IOC)
    assert r["comment"] == f"{intent.tag} mine" and len(intent.tag) == TAG_LENGTH
    assert tagged(r["comment"], intent.tag) and len(r["comment"]) <= COMMENT_LIMIT
    assert prepare(10000001, BUY, "order-1").request["comment"] == intent.tag


def test_the_tag_depends_on_account_and_key_only() -> None:
    assert tag_of(1, "k") == prepare(1, BUY, "k").tag == prepare(1, BUY | {"volume": 0.2}, "k").tag
    assert len({tag_of(1, "k"), tag_of(2, "k"), tag_of(1, "k2")}) == 3


def test_same_request_same_fingerprint_whatever_the_spelling() -> None:
    by_name = prepare(5, BUY, "k")
    by_number = prepare(5, {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "type_filling": 1}, "k")
    assert by_name.fingerprint == by_number.fingerprint
    assert prepare(5, BUY | {"volume": 0.2}, "k").fingerprint != by_name.fingerprint
    assert prepare(6, BUY, "k").fingerprint != by_name.fingerprint  # another account
    assert prepare(5, BUY | {"comment": "x"}, "k").fingerprint != by_name.fingerprint


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"symbol": "EURUSD"}, "action is required"),
        ({"action": "deal", "symbol": "EURUSD", "type": "buy"}, "needs volume"),
        ({"action": "pending", "symbol": "EURUSD", "volume": 0.1, "type": "buy_limit"}, "needs price"),
        ({"action": "sltp", "sl": 1.0}, "needs position"),
        ({"action": "remove"}, "needs order"),
        ({"action": "close_by", "position": 1}, "needs position_by"),
        (BUY | {"volume": 0}, "above 0"),
        (BUY | {"volume": -1.0}, "above 0"),
        (BUY | {"type": "buy_later"}, "invalid type"),
        (BUY | {"action": "trade"}, "invalid action"),
        (BUY | {"type_filling": "all_or_none"}, "invalid type_filling"),
        (BUY | {"price": float("nan")}, "finite"),
        (BUY | {"magic": -1}, "magic"),
        (BUY | {"comment": "x" * (USER_COMMENT_LIMIT + 1)}, "comment"),
        (BUY | {"comment": "line\nbreak"}, "comment"),
        (BUY | {"comment": "\U0001f680"}, "comment"),
        ({"action": "sltp", "position": 0, "sl": 1.0}, "invalid position"),
        ({"action": "remove", "order": 0}, "invalid order"),
        (BUY | {"password": "hunter2"}, "unknown field"),
        (BUY | {"symbol": "EUR USD; DROP"}, "invalid symbol"),
        ("buy EURUSD", "MqlTradeRequest"),
        ([], "MqlTradeRequest"),
    ],
)
def test_bad_requests_are_refused_with_the_field_named(request_: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        prepare(10000001, request_, "k")


@pytest.mark.parametrize("key", ["", "x" * 129, "tab\there", 12345, None, b"bytes", ["k"]])
def test_bad_keys_are_refused(key: Any) -> None:
    with pytest.raises(InvalidRequestError, match="idempotency_key"):
        prepare(10000001, BUY, key)


@pytest.mark.parametrize("login", [0, -5, "10000001", 1.5, True, None])
def test_bad_logins_are_refused(login: Any) -> None:
    with pytest.raises(InvalidRequestError, match="login"):
        prepare(login, BUY, "k")


FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=True), st.text(max_size=40),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
FIELDS = ["action", "symbol", "volume", "type", "price", "sl", "tp", "deviation", "magic", "comment", "type_filling",
          "type_time", "expiration", "position", "position_by", "order", "stoplimit", "unknown"]  # fmt: skip


@given(st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=6), st.text(max_size=140))
def test_any_input_is_either_a_valid_sdk_request_or_a_clear_refusal(request_: dict[str, Any], key: str) -> None:
    try:
        intent = prepare(10000001, request_, key)
    except InvalidRequestError as exc:
        assert exc.code == -2 and str(exc)
        return
    r = intent.request
    ints = ("action", "type", "type_filling", "type_time", "deviation", "magic", "expiration", "position",
            "position_by", "order")  # fmt: skip
    assert all(type(r[k]) is int and 0 <= r[k] < 2**63 for k in ints if k in r)
    assert all(type(r[k]) is float for k in ("volume", "price", "sl", "tp", "stoplimit") if k in r)
    assert isinstance(r["comment"], str) and len(r["comment"]) <= COMMENT_LIMIT and tagged(r["comment"], intent.tag)
    assert set(r) <= set(FIELDS) - {"unknown"}


def test_lookalikes_are_same_symbol_direction_volume_and_magic() -> None:
    intent = prepare(1, BUY | {"magic": 3}, "k")
    deal = {"symbol": "EURUSD", "type": c.DEAL_TYPE_BUY, "volume": 0.1, "magic": 3, "comment": "rewritten"}
    assert matches(intent, deal)
    assert not matches(intent, deal | {"type": c.DEAL_TYPE_SELL})
    assert not matches(intent, deal | {"volume": 0.2})
    assert not matches(intent, deal | {"magic": 4})
    assert not matches(intent, deal | {"symbol": "GBPUSD"})
    order = {"symbol": "EURUSD", "type": c.ORDER_TYPE_BUY, "volume_initial": 0.1, "volume_current": 0.0, "magic": 3}
    assert matches(intent, order)
