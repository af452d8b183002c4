"""Numpy arrays on the bridge's wire: plain data (dtype description + bytes), checked against the dtype the
function returns, and the SDK's arrays normalised to the port's columns before they leave the bridge."""

from __future__ import annotations

import numpy as np
import pytest

from mt5_worker.bridge.codec import BridgeProtocolError, decode_reply, encode_result
from mt5_worker.bridge.wire import ARRAY_TAG, decode_array, encode_array, is_plain
from mt5_worker.terminal.arrays import RATES_DTYPE, TICKS_DTYPE
from mt5_worker.terminal.functions import BY_NAME

OK = (1, "Success")


def _check_reply(function: str, reply: object) -> object:
    return decode_reply(BY_NAME[function], reply)


def _plain_result(function: str, result: object) -> object:
    return encode_result(BY_NAME[function], result)


def rates(n: int = 3) -> np.ndarray:
    array = np.zeros(n, dtype=RATES_DTYPE)
    array["time"] = np.arange(n) * 60
    array["close"] = 1.5
    return array


def test_an_array_round_trips_as_plain_data() -> None:
    encoded = encode_array(rates())
    assert ARRAY_TAG == encoded[0] and type(encoded[2]) is bytes
    assert is_plain(encoded, allow_bytes=True) and not is_plain(encoded)
    decoded = decode_array(encoded, RATES_DTYPE)
    assert decoded.tobytes() == rates().tobytes() and decoded.flags.writeable
    assert 0 == len(decode_array(encode_array(np.zeros(0, dtype=TICKS_DTYPE)), TICKS_DTYPE))


@pytest.mark.parametrize(
    "value",
    [
        ("pickle", (), b""),
        (ARRAY_TAG, (("time", "<i8"),), b"\0" * 8),  # not the expected columns
        (ARRAY_TAG, (("time", "|O"),), b"\0" * 8),  # an object column is never built
        (*encode_array(rates())[:2], b"\0" * 7),  # not whole rows
        encode_array(np.zeros(1, dtype=TICKS_DTYPE)),  # ticks where bars were expected
    ],
)
def test_anything_but_the_expected_array_is_refused(value: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        decode_array(value, RATES_DTYPE)
    with pytest.raises(BridgeProtocolError):
        _check_reply("copy_rates_from", (value, OK))


def test_replies_are_checked_by_shape() -> None:
    array, error = _check_reply("copy_rates_range", (encode_array(rates()), OK))
    assert OK == error and RATES_DTYPE == array.dtype and 3 == len(array)
    assert (None, (-1, "Terminal: Call failed")) == _check_reply(
        "copy_ticks_from", (None, (-1, "Terminal: Call failed"))
    )
    assert (7, OK) == _check_reply("symbols_total", (7, OK))
    for function, value in [
        ("symbols_total", "7"),
        ("symbol_info", (1, 2)),
        ("symbols_get", ((1,),)),
        ("market_book_get", ((1, 1.0, 1),)),
        ("symbol_select", b"yes"),
        ("copy_rates_from", (1, 2)),
        ("order_send", (10009, 1, 2, 0.1, 1.0, 1.0, 1.0, "Request executed", 1, 0, (1, 2))),  # a short request
        ("order_send", (10009, 1, 2, 0.1, 1.0, 1.0, 1.0, "Request executed", 1, (0,) * 17)),  # a field missing
    ]:
        with pytest.raises(BridgeProtocolError):
            _check_reply(function, (value, OK))
    sent = (10009, 1, 2, 0.1, 1.0, 1.0, 1.0, "Request executed", 1, 0, (0,) * 17)
    assert (sent, OK) == _check_reply("order_send", (sent, OK))


def test_the_bridge_sends_exactly_the_ports_columns() -> None:
    wider = np.zeros(2, dtype=[("extra", "<i4"), *RATES_DTYPE.descr])
    wider["time"] = [60, 120]
    encoded = _plain_result("copy_rates_from", wider)
    assert decode_array(encoded, RATES_DTYPE)["time"].tolist() == [60, 120]
    assert _plain_result("copy_ticks_range", None) is None
    assert _plain_result("symbols_total", np.int64(9)) == 9 and type(_plain_result("symbols_total", np.int64(9))) is int
