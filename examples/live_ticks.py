"""Live ticks for browsers: ``GET /ws/ticks`` (WebSocket) and ``GET /sse/ticks`` (Server-Sent Events), mounted by
``examples/fastapi_app.py``.

Both take ``server``, ``symbols`` (comma-separated) and optionally ``since`` (epoch ms, ISO 8601 or an entry ID;
for SSE a browser's ``Last-Event-ID`` resumes instead), and send each tick (or gap event) as JSON, the
documents ``AsyncMT5Client.stream_ticks`` yields (docs/streams.md). Every connection reads through the app's one
client, so a thousand browsers cost one Redis reader, not a thousand.

Memory stays bounded whatever the browsers do: each connection has a queue of ``QUEUE`` ticks between the stream
and its socket. While it is full the connection's stream waits (a burst, or a browser catching up from long ago:
the ticks wait in Redis, not here); a connection whose socket took nothing for ``SEND_TIMEOUT`` seconds while ticks
waited for it (a browser that does not read, a network that does not carry: its socket's buffers full, the send
blocks) is cut off: what waits is dropped, its stream closed, and it is counted in
``mt5_stream_clients_cut_off_total{transport}`` (on ``/metrics``). The browser learns it when it reads again:
WebSocket close code 1013 ("try again later") after what its socket still held, the SSE response's end; it resumes
from the last tick it had (``since``, or SSE's ``Last-Event-ID``).

SSE event IDs: with one symbol, the tick's stream entry ID; with several, every symbol's last entry ID
(``EURUSD=1796212800123-0,GBPUSD=1796212800119-2``), so a reconnecting browser resumes each exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import Counter

from mt5_worker import AsyncMT5Client, InvalidRequestError
from mt5_worker.client.streaming import tick_sources

QUEUE = 1000  # ticks a connection may have waiting for its socket
SEND_TIMEOUT = 5.0  # seconds a browser's socket may take nothing while ticks wait for it
ENCODED = 4096  # ticks whose JSON is kept: each is sent to many browsers, and encoded once
CUT_OFF = Counter("mt5_stream_clients_cut_off", "Stream connections cut off as too slow", ["transport"])

LOG = logging.getLogger(__name__)

router = APIRouter()


class _Connection:
    """One browser's queue of ticks: filled from the stream by :meth:`pump`, emptied by the socket's sender
    (:meth:`next`). ``None`` in the queue ends it: the stream ended, or the connection was cut off."""

    def __init__(self, transport: str, gone: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.transport = transport
        self.gone = gone  # whether the browser went away (then a stalled socket is no slow browser to count)
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE + 1)  # + 1: room for the end
        self.progress = time.monotonic()  # when the socket last took a tick, or a tick was queued for an idle one
        self.taken = asyncio.Event()
        self.cut = False

    async def pump(self, client: AsyncMT5Client, server: str, symbols: list[str], since: Any) -> None:
        try:
            async with contextlib.aclosing(client.stream_ticks(server, symbols, since=since)) as ticks:
                async for tick in ticks:
                    if not await self.offer(tick):
                        self.cut_off(counted=not (self.gone is not None and await self.gone()))
                        return
        finally:
            if not self.cut:
                self.queue.put_nowait(None)

    async def offer(self, tick: dict[str, Any]) -> bool:
        """Queue a tick, waiting while the queue is full (a burst, a browser catching up: the stream waits in
        Redis); ``False`` when the socket took nothing for ``SEND_TIMEOUT`` seconds while ticks waited for it (a
        send blocked on a socket that does not drain)."""
        if self.queue.empty():
            self.progress = time.monotonic()
        while self.queue.qsize() >= QUEUE:
            self.taken.clear()
            try:
                await asyncio.wait_for(self.taken.wait(), self.progress + SEND_TIMEOUT - time.monotonic())
            except TimeoutError:
                return False
        if time.monotonic() - self.progress > SEND_TIMEOUT:
            return False
        self.queue.put_nowait(tick)
        return True

    def cut_off(self, counted: bool = True) -> None:
        """Drop what waits (the browser resumes from its last tick) and end the connection."""
        self.cut = True
        if counted:
            CUT_OFF.labels(self.transport).inc()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next(self) -> dict[str, Any] | None:
        """The next tick for the socket; ``None`` once the stream ended or the connection was cut off."""
        tick = await self.queue.get()
        self.progress = time.monotonic()
        self.taken.set()
        return tick


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
        asked = TickRequest(server, symbols, since, last_event_id=None)  # a WebSocket resumes with since
    except InvalidRequestError as exc:
        await websocket.accept()  # a close before accepting is a bare HTTP 403: the browser would not learn why
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    connection = _Connection("websocket")
    await websocket.accept()
    pump = asyncio.ensure_future(connection.pump(_client(websocket), server, asked.symbols, asked.since))
    try:
        while (tick := await connection.next()) is not None:
            await websocket.send_text(_encode(server, tick))
        # Cut off (a browser that did not read: it gets this once it reads again), or the stream failed.
        await websocket.close(code=1013, reason="too slow: cut off" if connection.cut else "stream unavailable")
    except (WebSocketDisconnect, OSError):  # the browser went away
        pass
    finally:
        await _stop(pump)


@router.get("/sse/ticks", response_class=EventSourceResponse)
async def sse_ticks(request: Request, asked: TickRequest = Depends()) -> AsyncIterator[ServerSentEvent]:  # noqa: B008
    """Ticks as ``event: tick`` (or ``gap``) events whose ``id`` resumes them (``Last-Event-ID``)."""
    names = asked.symbols
    connection = _Connection("sse", request.is_disconnected)  # a closed EventSource stalls the response too
    pump = asyncio.ensure_future(connection.pump(_client(request), asked.server, names, asked.since))
    positions: dict[str, str] = {}
    try:
        while (tick := await connection.next()) is not None:
            if tick["type"] == "tick":
                positions[tick["symbol"]] = tick["id"]
            event_id = tick.get("id") if len(names) == 1 else ",".join(f"{s}={i}" for s, i in positions.items())
            yield ServerSentEvent(raw_data=_encode(asked.server, tick), event=tick["type"], id=event_id or None)
    finally:
        await _stop(pump)


_encoded: dict[tuple[str, str, str], str] = {}  # (server, symbol, entry ID) -> the tick as JSON


def _encode(server: str, item: dict[str, Any]) -> str:
    """A tick (or gap event) as JSON; a tick is encoded once for all the connections that send it."""
    if item["type"] != "tick":
        return json.dumps(item)
    key = (server, item["symbol"], item["id"])
    text = _encoded.get(key)
    if text is None:
        text = _encoded[key] = json.dumps(item)
        if len(_encoded) > ENCODED:
            del _encoded[next(iter(_encoded))]  # the oldest: dicts keep insertion order
    return text


async def _stop(pump: asyncio.Future[None]) -> None:
    """Stop a connection's pump; a stream that failed is logged (the browser got its end, and resumes)."""
    pump.cancel()
    try:
        await pump
    except asyncio.CancelledError:
        pass
    except Exception:
        LOG.exception("live ticks stream failed")


def _since(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def _resume(last_event_id: str) -> Any:
    """``since`` from a browser's ``Last-Event-ID``: an entry ID (one symbol), or ``SYMBOL=ID`` pairs."""
    if "=" not in last_event_id:
        return last_event_id
    return dict(pair.split("=", 1) for pair in last_event_id.split(",") if "=" in pair)
