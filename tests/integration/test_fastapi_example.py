"""examples/fastapi_app.py under uvicorn, on loopback, with a real worker and Redis, driven by httpx."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from mt5_worker.cli.devstack import ManagedProcess, free_port, wait_for
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]


class Service:
    def __init__(self, stack: Stack, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app", "--port", str(self.port)]
        argv += ["--host", "127.0.0.1", "--log-level", "warning", "--app-dir", str(ROOT)]
        self.process = stack.track(ManagedProcess("uvicorn", argv, stack.env | settings, stack.log_dir))

    def start(self) -> Service:
        self.process.start()
        wait_for(self._answers, 30, "the example service to answer")
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture
def stack(simulator_stack: Stack) -> Stack:  # the example service is what is tested: one backend is enough
    return simulator_stack


def test_500_concurrent_http_requests_all_succeed_with_their_own_account(stack: Stack) -> None:
    stack.worker("w1")
    service = Service(stack).start()
    for a in DEMO_ACCOUNTS:  # open each account's session once; reads then need no password
        body = {"password": a.password.get_secret_value(), "server": a.server}
        opened = httpx.post(f"{service.url}/accounts/{a.login}/session", json=body, timeout=30)
        assert (200, a.login) == (opened.status_code, opened.json()["login"])
        assert a.password.get_secret_value() not in opened.text

    async def load() -> list[tuple[int, int, int]]:
        limits = httpx.Limits(max_connections=500)
        async with httpx.AsyncClient(base_url=service.url, limits=limits, timeout=120) as http:

            async def one(login: int) -> tuple[int, int, int]:
                response = await http.get(f"/accounts/{login}")
                return login, response.status_code, response.json().get("login", -1)

            return await asyncio.gather(*(one(DEMO_ACCOUNTS[i % 8].login) for i in range(500)))

    outcomes = asyncio.run(load())
    assert 500 == len(outcomes)
    assert [] == [o for o in outcomes if o[1] != 200 or o[0] != o[2]]


def test_mt5_errors_map_to_http_statuses(stack: Stack) -> None:
    fragile = DEMO_ACCOUNTS[1]
    stack.worker(
        "w1",
        MT5_SIMULATOR_FAULTS={"account_info": {"fail_first": 1, "code": -10004}},
        MT5_CONNECTION_RETRY_LIMIT=0,  # the transient failure reaches the caller at once
    )
    service = Service(stack, MT5_REQUEST_TIMEOUT="3").start()
    a = DEMO_ACCOUNTS[0]
    url = service.url

    wrong = httpx.post(f"{url}/accounts/{a.login}/session", json={"password": "Wrong-Pass-1", "server": a.server})
    assert 401 == wrong.status_code
    assert {"type": "AuthorizationError", "code": -6} == {k: wrong.json()["error"][k] for k in ("type", "code")}
    assert "Wrong-Pass-1" not in wrong.text

    assert 422 == httpx.get(f"{url}/accounts/not-a-number").status_code
    assert 422 == httpx.get(f"{url}/accounts/0").status_code
    empty = httpx.post(f"{url}/accounts/{a.login}/session", json={"password": "Secret-Pass-1", "server": ""})
    assert 422 == empty.status_code
    assert "Secret-Pass-1" not in empty.text

    body = {"password": fragile.password.get_secret_value(), "server": fragile.server}
    assert 200 == httpx.post(f"{url}/accounts/{fragile.login}/session", json=body, timeout=30).status_code
    transient = httpx.get(f"{url}/accounts/{fragile.login}", timeout=30)  # the first account_info call fails
    assert (503, "5") == (transient.status_code, transient.headers.get("retry-after"))
    assert -10004 == transient.json()["error"]["code"]
    assert 200 == httpx.get(f"{url}/accounts/{fragile.login}", timeout=30).status_code

    assert 200 == httpx.get(f"{url}/health", timeout=30).status_code
    stack.workers[0].stop()  # nobody answers now
    unanswered = httpx.get(f"{url}/accounts/{a.login}", timeout=30)
    assert (503, "5") == (unanswered.status_code, unanswered.headers.get("retry-after"))
    assert "TimeoutError" == unanswered.json()["error"]["type"]
