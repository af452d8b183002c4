"""A small web service over mt5-worker: FastAPI + :class:`~mt5_worker.AsyncMT5Client`.

Run it beside a worker (``mt5-worker worker``) and Redis::

    pip install "mt5-worker[examples]"
    uvicorn examples.fastapi_app:app --port 8000

    curl -X POST localhost:8000/accounts/10000001/session \\
         -H 'content-type: application/json' -d '{"password": "demo-10000001", "server": "MetaQuotes-Demo"}'
    curl localhost:8000/accounts/10000001        # the pooled session: no password needed
    curl localhost:8000/health
    curl -N 'localhost:8000/sse/ticks?server=MetaQuotes-Demo&symbols=EURUSD'   # live ticks (a feed must run)

The client is opened and closed with the application (FastAPI's lifespan); handlers only ``await`` it, so one
process serves many requests at once. MT5 errors become HTTP statuses (see ``STATUS``); every error body is
``{"error": {"type": ..., "code": ..., "message": ...}}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from prometheus_client import make_asgi_app
from pydantic import BaseModel, Field, SecretStr

from examples import live_ticks
from mt5_worker import (
    AsyncMT5Client,
    AuthorizationError,
    CredentialsError,
    InvalidRequestError,
    MT5Error,
    TransientMT5Error,
)

RETRY_AFTER = "5"  # seconds a client should wait before retrying a 503

# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[Exception], int]] = [
    (AuthorizationError, 401),  # the trade server refused the account's credentials: log in again
    (CredentialsError, 403),  # an encrypted credential did not open, or plaintext where encryption is required
    (InvalidRequestError, 422),  # rejected before any SDK call: fix the request
    (TransientMT5Error, 503),  # IPC trouble after the worker's retries: try again later
    (TimeoutError, 503),  # no worker answered in time (all busy, or none running)
    (OperationalError, 503),  # the broker or result backend is unreachable
    (MT5Error, 502),  # any other refusal by the terminal or trade server
]

Login = Annotated[int, Path(gt=0, lt=2**63, description="the MT5 account number")]


class SessionRequest(BaseModel):
    password: SecretStr = Field(min_length=1, max_length=256)  # SecretStr: never in logs or validation errors
    server: str = Field(min_length=1, max_length=128, examples=["MetaQuotes-Demo"])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncMT5Client() as client:  # settings from the environment / .env, like the workers
        app.state.mt5 = client
        yield


app = FastAPI(title="mt5-worker example", lifespan=lifespan)
app.include_router(live_ticks.router)  # GET /ws/ticks, GET /sse/ticks: live ticks for browsers
app.mount("/metrics", make_asgi_app())  # mt5_stream_clients_cut_off_total, and the process's own


def mt5(request: Request) -> AsyncMT5Client:
    client: AsyncMT5Client = request.app.state.mt5
    return client


@app.get("/accounts/{login}")
async def account(login: Login, request: Request) -> dict[str, Any]:
    """The account's ``AccountInfo``, through its pooled session (open one with ``POST .../session``)."""
    return await mt5(request).account_info(login)


@app.post("/accounts/{login}/session")
async def open_session(login: Login, body: SessionRequest, request: Request) -> dict[str, Any]:
    """Log the account in on its worker's terminal; later reads need no password."""
    return await mt5(request).login(login, body.password.get_secret_value(), body.server)


@app.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """One worker's terminal state (any worker)."""
    return await mt5(request).health(timeout=10)


async def mt5_error(_: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    error = {"type": type(exc).__name__, "code": getattr(exc, "code", None), "message": _message(exc)}
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _message(exc: Exception) -> str:
    if isinstance(exc, MT5Error):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "no worker answered in time; try again later"
    return "the message broker is unreachable; try again later"


for error_class, _ in STATUS:
    app.add_exception_handler(error_class, mt5_error)
