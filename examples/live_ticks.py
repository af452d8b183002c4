"""Live ticks for browsers: ``GET /ws/ticks`` (WebSocket) and ``GET /sse/ticks`` (Server-Sent Events), mounted by
``examples/fastapi_app.py``.

Both take ``server``, ``symbols`` (comma-separated) and optionally ``since`` (epoch ms, ISO 8601 or an entry ID;
for SSE a browser's ``Last-Event-ID`` resumes instead), and send each tick (or gap event) as JSON, the
documents ``AsyncMT5Client.stream_ticks`` yields (docs/streams.md). Every connection reads through the app's one
client, so a thousand browsers cost one Redis reader, not a thousand.

Memory stays bounded whatever the browsers do: each connection has a queue of ``QUEUE`` ticks between the stream
and its socket; a connection whose queue fills (a browser that does not read, a network that does not carry) or
whose send waits over ``SEND_TIMEOUT`` seconds is cut off (WebSocket close code 1013, "try again later"; the SSE
response ends) and counted in ``mt5_stream_clients_cut_off_total{transport}`` (on ``/metrics``).

SSE event IDs: with one symbol, the tick's stream entry ID; with several, every symbol's last entry ID
(``EURUSD=1796212800123-0,GBPUSD=1796212800119-2``), so a reconnecting browser resumes each exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import Counter

from mt5_worker import AsyncMT5Client, InvalidRequestError
from mt5_worker.client.streaming import tick_sources

QUEUE = 1000  # ticks a connection may have waiting for its socket
SEND_TIMEOUT = 5.0  # seconds a send may wait for a browser's socket
CUT_OFF = Counter("mt5_stream_clients_cut_off", "Stream connections cut off as too slow", ["transport"])

router = APIRouter()


class _Connection:
    """One browser's queue of ticks, filled from the stream by :meth:`pump`."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self.cut = asyncio.Event()

    async def pump(self, client: AsyncMT5Client, server: str, symbols: list[str], since: Any) -> None:
        async with contextlib.aclosing(client.stream_ticks(server, symbols, since=since)) as ticks:
            async for tick in ticks:
                try:
                    self.queue.put_nowait(tick)
                except asyncio.QueueFull:
                    self.cut_off()
                    return

    def cut_off(self) -> None:
        if not self.cut.is_set():
            self.cut.set()
            CUT_OFF.labels(self.transport).inc()

    async def next(self) -> dict[str, Any] | None:
        """The next tick, or ``None`` once the connection is cut off."""
        if self.cut.is_set():
            return None
        getting = asyncio.ensure_future(self.queue.get())
        cutting = asyncio.ensure_future(self.cut.wait())
        await asyncio.wait((getting, cutting), return_when=asyncio.FIRST_COMPLETED)
        cutting.cancel()
        if getting.done():
            return getting.result()
        getting.cancel()
        return None


def _client(request: Request | WebSocket) -> AsyncMT5Client:
    client: AsyncMT5Client = request.app.state.mt5
    return client


class TickRequest:
    """The query of both endpoints, checked before anything is sent: a bad one gets a 422 (SSE) or a close with
    code 1008 and the reason (WebSocket)."""

    def __init__(self, server: str, symbols: str, since: str | None = None,
                 last_event_id: str | None = Header(default=None)) -> None:  # fmt: skip
        self.server = server
        self.symbols = [s.strip() for s in symbols.split(",") if s.strip()]
        self.since = _resume(last_event_id) if last_event_id else _since(since)
        tick_sources(self.server, self.symbols, self.since)  # raises InvalidRequestError, naming what is wrong


@router.websocket("/ws/ticks")
async def ws_ticks(websocket: WebSocket, server: str, symbols: str, since: str | None = None) -> None:
    """Ticks as JSON text messages."""
    try:
        asked = TickRequest(server, symbols, since)
    except InvalidRequestError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    names, start = asked.symbols, asked.since
    client = _client(websocket)
    connection = _Connection("websocket")
    await websocket.accept()
    pump = asyncio.ensure_future(connection.pump(client, server, names, start))
    try:
        while (tick := await _next_or_failure(connection, pump)) is not None:
            await asyncio.wait_for(websocket.send_text(json.dumps(tick)), SEND_TIMEOUT)
        await websocket.close(code=1013, reason="too slow: cut off")
    except TimeoutError:
        connection.cut_off()
        with contextlib.suppress(Exception):
            await websocket.close(code=1013, reason="too slow: cut off")
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


@router.get("/sse/ticks", response_class=EventSourceResponse)
async def sse_ticks(request: Request, asked: TickRequest = Depends()) -> AsyncIterator[ServerSentEvent]:  # noqa: B008
    """Ticks as ``event: tick`` (or ``gap``) events whose ``id`` resumes them (``Last-Event-ID``)."""
    names = asked.symbols
    connection = _Connection("sse")
    pump = asyncio.ensure_future(connection.pump(_client(request), asked.server, names, asked.since))
    positions: dict[str, str] = {}
    try:
        while (tick := await _next_or_failure(connection, pump)) is not None:
            if tick["type"] == "tick":
                positions[tick["symbol"]] = tick["id"]
            event_id = tick.get("id") if len(names) == 1 else ",".join(f"{s}={i}" for s, i in positions.items())
            yield ServerSentEvent(data=tick, event=tick["type"], id=event_id or None)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _next_or_failure(connection: _Connection, pump: asyncio.Future[None]) -> dict[str, Any] | None:
    """The next tick; ``None`` when cut off or when the stream ended (its error stays on ``pump``)."""
    if pump.done() and connection.queue.empty():
        return None
    waiting = asyncio.ensure_future(connection.next())
    await asyncio.wait((waiting, pump), return_when=asyncio.FIRST_COMPLETED)
    if waiting.done():
        return waiting.result()
    waiting.cancel()
    return None if connection.queue.empty() else connection.queue.get_nowait()


def _since(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def _resume(last_event_id: str) -> Any:
    """``since`` from a browser's ``Last-Event-ID``: an entry ID (one symbol), or ``SYMBOL=ID`` pairs."""
    if "=" not in last_event_id:
        return last_event_id
    return dict(pair.split("=", 1) for pair in last_event_id.split(",") if "=" in pair)
