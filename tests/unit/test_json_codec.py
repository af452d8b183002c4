"""Celery's ``json`` on orjson writes the JSON kombu's own codec writes, and reads back what either wrote."""

from __future__ import annotations

import collections
import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from kombu.serialization import dumps as kombu_dumps
from kombu.serialization import loads as kombu_loads
from kombu.utils import json as kombu_json

from mt5_worker.settings import Settings
from mt5_worker.worker import json_codec
from mt5_worker.worker.celery_config import celery_config

Point = collections.namedtuple("Point", "x y")
VALUES: list[Any] = [
    {"login": 5001, "equity": 1234.5, "ok": True, "none": None, "name": "Démo €"},
    {"bars": {"time": list(range(0, 600, 60)), "close": [1.1 + i / 1e5 for i in range(10)]}},
    {1: "int keys become strings"},
    ("a", "tuple", 3),
    Point(1, 2),
    [{"nested": [[1, 2], {"deep": Point(3, 4)}]}],
    2**70,  # beyond orjson's 64 bits
    {"when": datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC), "day": datetime.date(2026, 12, 2)},
    decimal.Decimal("1.10"),
    b"raw bytes",
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(VALUES)])
def test_the_same_value_comes_back_as_from_kombus_own_codec(value: Any) -> None:
    ours = json_codec.dumps(value)
    theirs = kombu_json.dumps(value)
    assert json.loads(ours) == json.loads(theirs)  # the same JSON document on the wire
    assert kombu_json.loads(theirs) == json_codec.loads(ours) == json_codec.loads(theirs.encode())


def test_not_a_number_becomes_null_which_every_json_parser_reads() -> None:
    assert b'{"x":null}' == json_codec.dumps({"x": float("nan")})
    json.loads(json_codec.dumps([float("inf")]), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))


def test_a_uuid_becomes_its_string() -> None:
    # kombu wraps it as {"__type__": "uuid"}; no task argument or result of the service is a UUID object.
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert b'"12345678-1234-5678-1234-567812345678"' == json_codec.dumps(value)


def test_what_json_cannot_hold_is_refused_as_by_kombu() -> None:
    with pytest.raises(TypeError):
        json_codec.dumps({"x": object()})


def test_the_service_celery_configuration_serves_json_with_orjson() -> None:
    celery_config(Settings.load(_env_file=None))
    content_type, encoding, body = kombu_dumps({"a": (1, 2)}, serializer="json")
    assert ("application/json", "utf-8", b'{"a":[1,2]}') == (content_type, encoding, body)
    assert {"a": [1, 2]} == kombu_loads(body, content_type, encoding, accept=["application/json"])
    # What a plain client's kombu writes (spaces, its wrappers) reads back the same.
    assert {"d": decimal.Decimal("2.5")} == kombu_loads(
        kombu_json.dumps({"d": decimal.Decimal("2.5")}), content_type, encoding, accept=["application/json"]
    )


def _extremes() -> Any:
    import numpy as np

    rows = [(-(2**63), 0.0, -0.0, float("nan"), 0, 2**63 - 1, 0, 5e-324),
            (2**63 - 1, float("inf"), 1.7976931348623157e308, 1.08412, 2**64 - 1, 1, 2**32 - 1, 1e16)]  # fmt: skip
    from mt5_worker.terminal.arrays import TICKS_DTYPE

    return np.array(rows, dtype=TICKS_DTYPE)


def test_a_workers_numpy_columns_are_written_as_their_lists() -> None:
    """The worker's bars and ticks stay numpy columns (json_codec.array_columns): the same bytes on the wire as
    market_data.columns' lists, for the simulator's arrays and for each column type's extreme values."""
    from datetime import UTC

    import numpy as np

    from mt5_worker.manager.market_data import columns
    from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
    from mt5_worker.terminal.constants import COPY_TICKS_ALL, TIMEFRAME_M1

    now = datetime.datetime(2026, 11, 4, 12, tzinfo=UTC).timestamp()
    terminal, account = SimulatedTerminal(clock=lambda: now), DEMO_ACCOUNTS[0]
    terminal.initialize()
    terminal.login(account.login, password=account.password.get_secret_value(), server=account.server)
    arrays = [terminal.copy_rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 5_000),
              terminal.copy_ticks_from("EURUSD", int(now) - 600, 5_000, COPY_TICKS_ALL), _extremes()]  # fmt: skip
    for array in arrays:
        assert len(array) > 1
        ours = json_codec.array_columns(array)
        assert all(isinstance(column, np.ndarray) for column in ours.values())
        assert json_codec.dumps(columns(array)) == json_codec.dumps(ours)


def test_columns_orjson_would_write_otherwise_stay_lists() -> None:
    """A 32-bit float is written by orjson as its own shortest text ("1.1"), by the list as the double's; a
    big-endian column is not orjson's; a boolean column is left as it was."""
    import numpy as np

    from mt5_worker.manager.market_data import columns

    array = np.array([(1.1, 7, True)], dtype=[("f4", "<f4"), ("big", ">i8"), ("flag", "?")])
    ours = json_codec.array_columns(array)
    assert all(type(column) is list for column in ours.values())
    assert (
        json_codec.dumps(columns(array))
        == json_codec.dumps(ours)
        == b'{"f4":[1.100000023841858],"big":[7],"flag":[true]}'
    )
