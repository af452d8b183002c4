"""The real-SDK adapter's order_send, with the simulator standing in for the ``MetaTrader5`` module: the request goes
positionally (the SDK refuses ``request=``), the result comes back as this package's records, ``None`` as ``None``."""

from __future__ import annotations

import pytest

from mt5_worker.terminal import constants as c
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.records import OrderSendResult, TradeRequest
from tests.unit.test_simulator_trading import BUY, terminal

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time


def test_order_send_passes_the_request_positionally_and_rebuilds_the_result() -> None:
    module = terminal()
    adapter = MetaTrader5Terminal(module=module)  # type: ignore[arg-type]
    result = adapter.order_send(BUY | {"comment": "via-sdk"})
    assert type(result) is OrderSendResult and type(result.request) is TradeRequest
    assert (c.TRADE_RETCODE_DONE, "via-sdk") == (result.retcode, result.request.comment)
    assert adapter.order_send({"action": 1, "bogus": 1}) is None
    assert (-2, 'Invalid "request" argument') == adapter.last_error()
