"""The real-SDK adapter's order_send, over the stand-in ``MetaTrader5`` module (``harness/sdk_standin.py``): the
request goes positionally (the SDK refuses ``request=``), the module's result comes back as this package's records,
``None`` as ``None``."""

from __future__ import annotations

import pytest

from harness.sdk_standin import standin
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.metatrader5 import MetaTrader5Terminal
from mt5_worker.terminal.records import OrderSendResult, TradeRequest
from tests.unit.test_simulator_trading import BUY, terminal

pytestmark = pytest.mark.market_hours  # reads the market or trades: see docs/testing.md#time


def test_order_send_passes_the_request_positionally_and_rebuilds_the_result() -> None:
    module = standin(terminal())
    adapter = MetaTrader5Terminal(module=module)
    result = adapter.order_send(BUY | {"comment": "via-sdk"})
    assert type(result) is OrderSendResult and type(result.request) is TradeRequest
    assert (c.TRADE_RETCODE_DONE, "via-sdk") == (result.retcode, result.request.comment)
    assert adapter.order_send({"action": 1, "bogus": 1}) is None
    assert (-2, 'Invalid "request" argument') == adapter.last_error()
