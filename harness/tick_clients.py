"""Browsers of the example service's live ticks, as asyncio clients: WebSocket (``websockets``) and SSE (``httpx``).

Each client watches some symbols of one trade server from a common moment (``since``, epoch ms) until each of its
symbols delivered a tick past ``until_ms``, keeping every tick it received (with the delay from the tick's time to
its arrival: this machine's clock plus the simulated servers' offset, since they run on the harness's pinned clock).
Some misbehave on purpose:

- a *stalled* client connects and never reads (a tab in the background, a link that carries nothing): its
  WebSocket (without compression) stops reading its socket once its queue of ``max_queue`` messages is full, an
  SSE response is not read at all, so the service's socket backs up once the kernel's buffers are full. Once told
  (``wake_up``), it reads what was left for it and how the service ended the connection (close code 1013; the SSE
  response ending);
- a *resuming* SSE client disconnects half-way and reconnects with ``Last-Event-ID``, as a browser does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

STALLED_QUEUE = 1  # messages a stalled WebSocket client buffers before it stops reading its socket
READ_LEFT = 60.0  # seconds a stalled client, woken, reads what was left for it before it gives up


@dataclass(frozen=True)
class Watch:
    """What one client asks for: ``kind`` (``ws``, ``sse``, ``stalled-ws``, ``stalled-sse``, ``resuming-sse``)."""

    kind: str
    server: str
    symbols: tuple[str, ...]
    since_ms: int | None = None  # None: the target's


@dataclass
class Received:
    watch: Watch
    ticks: list[tuple[str, str, int, float, float]] = field(default_factory=list)  # symbol, id, time_msc, bid, ask
    delays: list[float] = field(default_factory=list)  # seconds from each tick's time to its arrival
    gaps: int = 0
    connected_at: float = 0.0  # this machine's time
    close_code: int | None = None  # WebSocket: how the service closed it
    ended: bool = False  # the service ended the connection (SSE: the response ended; WebSocket: a close frame)
    reconnects: int = 0
    error: str | None = None


@dataclass
class Target:
    """Where the clients go and what they wait for."""

    url: str  # http://host:port
    since_ms: int
    until_ms: int
    offset: float  # the simulated servers' clock minus this machine's (harness.env.clock_offset)
    wakes: dict[str, asyncio.Event] = field(default_factory=dict)  # by transport: stalled clients read again

    def wake(self, transport: str) -> asyncio.Event:
        return self.wakes.setdefault(transport, asyncio.Event())

    def wake_up(self, transport: str) -> None:
        self.wake(transport).set()


class _Done(Exception):
    pass


def _take(received: Received, text: str, target: Target, passed: set[str]) -> dict[str, Any]:
    arrived = time.time()
    item: dict[str, Any] = json.loads(text)
    if item.get("type") == "tick":
        symbol = item["symbol"]
        received.ticks.append((symbol, item["id"], item["time_msc"], item["bid"], item["ask"]))
        received.delays.append(arrived + target.offset - item["time_msc"] / 1000)
        if item["time_msc"] > target.until_ms:
            passed.add(symbol)
    elif item.get("type") == "gap":
        received.gaps += 1
    return item


def _query(watch: Watch, since_ms: int) -> str:
    since = since_ms if watch.since_ms is None else watch.since_ms
    return urlencode({"server": watch.server, "symbols": ",".join(watch.symbols), "since": since})


async def run(watch: Watch, target: Target, connected: asyncio.Event | None = None) -> Received:
    """One client from connection to its end; failures are recorded, never raised."""
    received = Received(watch)
    try:
        if watch.kind == "ws":
            await _websocket(received, target)
        elif watch.kind == "stalled-ws":
            await _stalled_websocket(received, target)
        elif watch.kind == "sse":
            await _sse(received, target, target.until_ms)
        elif watch.kind == "stalled-sse":
            await _stalled_sse(received, target)
        elif watch.kind == "resuming-sse":
            half = (target.since_ms + target.until_ms) // 2
            last_id = await _sse(received, target, half)
            received.reconnects += 1
            await _sse(received, target, target.until_ms, last_id)
        else:
            raise ValueError(f"unknown client kind {watch.kind!r}")
    except Exception as exc:  # a client's failure is a finding, reported with the others
        received.error = f"{type(exc).__name__}: {exc}"
    return received


async def _websocket(received: Received, target: Target) -> None:
    passed: set[str] = set()
    uri = f"ws{target.url.removeprefix('http')}/ws/ticks?{_query(received.watch, target.since_ms)}"
    async with connect(uri, open_timeout=60, proxy=None) as ws:
        received.connected_at = time.time()
        async for message in ws:
            _take(received, str(message), target, passed)
            if passed >= set(received.watch.symbols):
                return
        received.close_code, received.ended = ws.close_code, True


async def _stalled_websocket(received: Received, target: Target) -> None:
    uri = f"ws{target.url.removeprefix('http')}/ws/ticks?{_query(received.watch, target.since_ms)}"
    ws: ClientConnection = await connect(
        uri, open_timeout=60, max_queue=STALLED_QUEUE, proxy=None, compression=None, ping_interval=None
    )  # a link that carries nothing answers no ping either
    received.connected_at = time.time()
    try:
        await target.wake("websocket").wait()
        passed: set[str] = set()
        try:
            async with asyncio.timeout(READ_LEFT):
                async for message in ws:
                    _take(received, str(message), target, passed)
        except ConnectionClosed:
            pass
        received.close_code, received.ended = ws.close_code, ws.close_code is not None
    finally:
        await ws.close()


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-sent events as ``{"event", "data", "id"}`` (comments and keep-alive pings skipped)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


async def _sse(received: Received, target: Target, until_ms: int, last_id: str | None = None) -> str | None:
    """Read events until each symbol passed ``until_ms``; the last event ID seen (what a browser resumes with)."""
    passed: set[str] = set()
    headers = {"Last-Event-ID": last_id} if last_id else {}
    url = f"{target.url}/sse/ticks?{_query(received.watch, target.since_ms)}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=30), trust_env=False) as http, \
            http.stream("GET", url, headers=headers) as response:  # fmt: skip
        response.raise_for_status()
        received.connected_at = received.connected_at or time.time()
        async for event in _events(response):
            last_id = event.get("id", last_id)
            item = _take(received, event["data"], target, set())
            if item.get("type") == "tick" and item["time_msc"] > until_ms:
                passed.add(item["symbol"])
            if passed >= set(received.watch.symbols):
                return last_id
        received.ended = True
    return last_id


async def _stalled_sse(received: Received, target: Target) -> None:
    url = f"{target.url}/sse/ticks?{_query(received.watch, target.since_ms)}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=30), trust_env=False) as http, \
            http.stream("GET", url) as response:  # fmt: skip
        response.raise_for_status()
        received.connected_at = time.time()
        await target.wake("sse").wait()
        try:
            async with asyncio.timeout(READ_LEFT):
                async for event in _events(response):
                    _take(received, event["data"], target, set())
        except TimeoutError:
            raise TimeoutError(f"the response went on for {READ_LEFT:g} s ({len(received.ticks)} ticks read)") from None
        received.ended = True
