"""The Grafana dashboard's queries as Prometheus evaluates them, and a fleet and traffic that give every panel data.

``panels()`` reads monitoring/grafana/dashboards/mt5-worker.json; ``promql()`` replaces Grafana's variables by
what Grafana would send (the job, every instance, a rate interval). ``traffic()`` sends through ``MT5Client`` what
an operator's dashboard shows under load: account reads, retried and refused requests, an order on BTCUSD
(traded every hour of the simulated week), expired and rejected messages, evictions; a market data feed
(``FEED_SETTINGS``) gives the streams row its series. Used by
tests/integration/test_observability.py and scripts/dashboard_picture.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.fleet import Fleet
from mt5_worker.errors import MT5Error
from mt5_worker.simulator import DEMO_ACCOUNTS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "mt5-worker.json"
STREAMS_ROW = "Streams"  # the market data feeds' panels: series only while a feed runs
# The one panel fed by the example web service (examples/fastapi_app.py), which these runs do not start.
WEB_SERVICE_PANELS = frozenset({"Clients cut off"})
JOB = "mt5-worker"
FEED_JOB = "mt5-feed"
# A feed of the demo server's EURUSD and BTCUSD, read with the first demo account (its own terminal).
FEED_SETTINGS: dict[str, Any] = {
    "MT5_FEED_SERVER": "MetaQuotes-Demo",
    "MT5_FEED_LOGIN": DEMO_ACCOUNTS[0].login,
    "MT5_FEED_PASSWORD": DEMO_ACCOUNTS[0].password.get_secret_value(),
    "MT5_FEED_SYMBOLS": "EURUSD,BTCUSD",
}
# Fleet settings that make the dashboard move within seconds: frequent heartbeats and load reports, a pool of
# two sessions (a third account evicts one), trading on, and a first IPC timeout on account_info (a retry).
WORKER_SETTINGS: dict[str, Any] = {
    "MT5_HEARTBEAT_INTERVAL": 1,
    "MT5_LOAD_REPORT_INTERVAL": 0.2,
    "MT5_CONNECTION_POOL_SIZE": 2,
    "MT5_TRADING_ENABLED": "true",
    "MT5_SIMULATOR_FAULTS": {"account_info": {"fail_first": 1, "code": -10005}},
}
BUY_BTC = {"action": "deal", "symbol": "BTCUSD", "volume": 0.01, "type": "buy", "type_filling": "ioc"}


@dataclass(frozen=True)
class Query:
    row: str
    panel: str
    ref: str
    expr: str
    legend: str


def load() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def queries(dashboard: Mapping[str, Any] | None = None) -> Iterator[Query]:
    """Every query of every panel, with its row's title."""
    row = ""
    for panel in (dashboard or load())["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        for target in panel["targets"]:
            yield Query(row, panel["title"], target["refId"], target["expr"], target.get("legendFormat", ""))


def promql(expr: str, job: str = JOB, rate_interval: str = "30s") -> str:
    """``expr`` as Grafana sends it with ``$job`` chosen, every ``$instance`` (its All value) and a rate window."""
    values = {"job": job, "instance": ".*", "__rate_interval": rate_interval, "__interval": "15s"}
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)


def traffic(fleet: Fleet, seconds: float, min_reads: int = 20) -> dict[str, int]:
    """Requests for ``seconds``, and on until at least ``min_reads`` reads (a busy machine answers slowly; at most
    a minute more): account reads on five accounts (two workers with pools of two: evictions), a refused login, a
    buy of BTCUSD now and then, an expired and an unknown message. Returns what was sent, by kind."""
    client, sent = fleet.client, {"reads": 0, "refused": 0, "orders": 0, "dropped": 0}
    accounts, refused = DEMO_ACCOUNTS[:5], DEMO_ACCOUNTS[5]
    deadline, round_ = time.monotonic() + seconds, 0
    while time.monotonic() < deadline or (sent["reads"] < min_reads and time.monotonic() < deadline + 60):
        for account in accounts:
            password = account.password.get_secret_value()
            credentials = {"login": account.login, "password": password, "server": account.server}
            client.account_info(account.login, account.server, password)
            client.submit("mt5.positions", credentials).get(timeout=30)
            sent["reads"] += 2
        if round_ % 3 == 0:
            with contextlib.suppress(MT5Error):
                client.login(refused.login, "not-the-password", refused.server)
            sent["refused"] += 1
            order = credentials | {"request": BUY_BTC, "idempotency_key": uuid.uuid4().hex}
            client.submit("mt5.order_send", order).get(timeout=30)
            sent["orders"] += 1
            past = datetime.now(UTC) - timedelta(seconds=1)
            fleet.app.send_task("mt5.health", queue="mt5", expires=past)
            fleet.app.send_task("mt5.not_a_task", queue="mt5")
            sent["dropped"] += 2
        round_ += 1
    return sent
