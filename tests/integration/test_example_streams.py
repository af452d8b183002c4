"""examples/fastapi_app.py's live ticks (GET /ws/ticks, GET /sse/ticks) under uvicorn, with real feeds and Redis,
driven by real WebSocket (``websockets``) and SSE (``httpx``) clients: the quick run of the load bench S1 runs at a
thousand (:mod:`harness.tick_load`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness import tick_load
from tests.celery_fixtures import Stack

pytestmark = [pytest.mark.market_hours, pytest.mark.timeout(240)]  # reads the market: docs/testing.md#time


def test_a_hundred_browsers_get_exact_ticks_and_stalled_ones_are_cut_off(simulator_stack: Stack) -> None:
    """Two feeds (both demo servers, 18 symbols) at 5 ticks/s per symbol after a 10-minute backfill; 101 WebSocket
    and 5 SSE clients watch one or two symbols each: each gets exactly the simulator's ticks from its ``since`` (one
    from 10 minutes back, one SSE client resuming with Last-Event-ID half-way). Three clients ask for a whole
    server's 10 minutes (megabytes) and never read: each is cut off (counted on /metrics; close code 1013 or the
    SSE response's end once it reads again) after an exact prefix, and the service's RSS grows less than three
    full queues and their buffers, the ticks on their way to the readers and slack (``Load.memory_bound``)."""
    load = tick_load.Load()
    outcome = tick_load.run(simulator_stack, load)
    figures = outcome.figures
    assert [] == outcome.problems, figures
    assert (0, 0, 0) == (figures["missing"], figures["duplicated"], figures["clients out of order"])
    assert (
        f"{load.ws + load.catching_up + load.sse + load.resuming_sse} of" in figures["clients exactly the ground truth"]
    )
    assert {"websocket": load.stalled_ws, "sse": load.stalled_sse} == outcome.cut_off
    assert max(b for _, b in outcome.rss) - outcome.rss_at_t0 <= load.memory_bound()


def test_bad_queries_are_refused_before_anything_is_sent(simulator_stack: Stack) -> None:
    service = simulator_stack.example_service()
    bad = {"server": "MetaQuotes-Demo", "symbols": "EUR USD"}
    refused = httpx.get(f"{service.url}/sse/ticks", params=bad, timeout=10)
    assert 422 == refused.status_code and "invalid symbols" in refused.text

    async def websocket(query: str) -> tuple[int | None, str | None]:
        async with connect(f"{service.ws_url}/ws/ticks?{query}", proxy=None) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert (1008, "invalid symbols") == _prefix(asyncio.run(websocket("server=MetaQuotes-Demo&symbols=EUR%20USD")))
    code, reason = asyncio.run(websocket("server=MetaQuotes-Demo&symbols=EURUSD&since=last%20tuesday"))
    assert 1008 == code and reason is not None and reason.startswith("invalid since")
    assert 0 == service.metric("mt5_stream_clients_cut_off")


def _prefix(closed: tuple[int | None, str | None]) -> tuple[int | None, str | None]:
    code, reason = closed
    return code, (reason or "")[: len("invalid symbols")]
