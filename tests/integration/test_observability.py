"""What an operator sees, checked on one real fleet under traffic: a real Prometheus (Debian's ``prometheus``)
scraping two real workers and a market data feed evaluates every query of the Grafana dashboard and every rule;
``mt5-worker status`` shows the fleet from Redis as JSON and, under tmux, as a user's terminal shows it, redrawn
in place.

Grafana itself is not available here: the dashboard's JSON is checked against Grafana's documented model
(test_dashboard.py) and its queries run on Prometheus as Grafana would send them. One panel, "Clients cut off",
counts what the example web service (examples/fastapi_app.py) exports, which this fleet does not run: it is only
checked to evaluate without error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import dashboard
from harness.fleet import Fleet
from harness.prometheus import PrometheusAPI, PrometheusProcess, prometheus_binary
from mt5_worker.cli.devstack import wait_for
from mt5_worker.simulator import DEMO_ACCOUNTS

pytestmark = [
    pytest.mark.integration,  # its fixture starts a fleet and Prometheus
    pytest.mark.xdist_group(__name__),  # one fleet for the module: one process runs its tests
    pytest.mark.timeout(180),
]
MT5_WORKER = str(Path(sys.executable).parent / "mt5-worker")


@dataclass
class Observed:
    fleet: Fleet
    prometheus: PrometheusAPI
    sent: dict[str, int]


def _require(binary: str | None, what: str) -> str:
    if binary is None:
        message = f"{what} is not installed (Debian: apt-get install {what}); under CI=true this fails"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    binary = _require(prometheus_binary(), "prometheus")
    log_dir = tmp_path_factory.mktemp("observed")
    fleet = Fleet(log_dir, host="obs")
    try:
        ports = {"w1": _port(), "w2": _port()}
        feed_port = _port()
        workers = [fleet.worker(name, wait=False, MT5_METRICS_PORT=port, **dashboard.WORKER_SETTINGS)
                   for name, port in ports.items()]  # fmt: skip
        fleet.feed("feed", wait=False, MT5_METRICS_PORT=feed_port, **dashboard.FEED_SETTINGS)
        jobs = {
            dashboard.JOB: [f"127.0.0.1:{p}" for p in ports.values()],
            dashboard.FEED_JOB: [f"127.0.0.1:{feed_port}"],
        }
        prometheus = fleet.track(PrometheusProcess(log_dir, jobs, binary=binary)).start()
        fleet.wait_serving(workers)
        api = prometheus.api()
        wait_for(lambda: len(api.query("up == 1")) == 3, 30, "both workers and the feed scraped")
        sent = dashboard.traffic(fleet, seconds=4)
        assert sent["reads"] >= 20 and sent["orders"] >= 1  # enough traffic to mean something
        # every rule evaluated after the traffic was scraped (scrapes and evaluations run every second)
        time.sleep(3)
        yield Observed(fleet, api, sent)
    finally:
        fleet.close()


def _port() -> int:
    from mt5_worker.cli.devstack import free_port

    return free_port()


def test_every_dashboard_query_returns_series_under_traffic(observed: Observed) -> None:
    empty, failed, evaluated = [], [], 0
    every = list(dashboard.queries())
    for q in every:
        expr = dashboard.promql(q.expr)
        try:
            series = observed.prometheus.query(expr)
        except Exception as exc:  # an invalid query: Prometheus says why
            failed.append(f"{q.row} / {q.panel} [{q.ref}]: {exc}")
            continue
        evaluated += 1
        if not series and q.panel not in dashboard.WEB_SERVICE_PANELS:  # not run here (module doc)
            empty.append(f"{q.row} / {q.panel} [{q.ref}]: {expr}")
    assert [] == failed
    assert [] == empty, "panels without series under traffic:\n" + "\n".join(empty)
    assert len(every) == evaluated >= 35


def test_every_rule_is_healthy_and_every_alert_refers_to_real_series(observed: Observed) -> None:
    """Prometheus loaded every rule and evaluates it without error; each alert's expression runs, and each metric
    it reads exists under traffic."""
    rules = observed.prometheus.rules()
    alerts = [r for r in rules if r["type"] == "alerting"]
    assert len(alerts) >= 10 and len(rules) >= 18
    assert [] == [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    for alert in alerts:
        observed.prometheus.query(alert["query"])  # raises on an error
        names = set(re.findall(r"\b(mt5_\w+|[a-z_]+:mt5_\w+:\w+|up)\b", alert["query"]))
        for name in names:
            assert observed.prometheus.query(f"count({{__name__=~'{name}(_total|_bucket)?'}})"), (alert["name"], name)
    # recording rules the dashboard reads have series
    for rule in rules:
        if rule["type"] == "recording":
            assert observed.prometheus.query(rule["name"]), rule["name"]


def test_no_metric_label_holds_an_account(observed: Observed) -> None:
    logins = {str(a.login) for a in DEMO_ACCOUNTS}
    series = observed.prometheus.query('{job=~"mt5-worker|mt5-feed"}')
    assert len(series) > 100
    leaked = {(s["metric"]["__name__"], k) for s in series for k, v in s["metric"].items() if v in logins}
    assert set() == leaked


def status_json(fleet: Fleet) -> dict[str, object]:
    result = subprocess.run([MT5_WORKER, "status", "--json"], env=_env(fleet), capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert 0 == result.returncode, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_status_json_shows_the_fleet_from_redis(observed: Observed) -> None:
    fleet = observed.fleet
    before = fleet.r.llen("mt5")  # the status sends no task
    found = status_json(fleet)
    workers = {w["terminal_id"]: w for w in found["workers"]}  # type: ignore[attr-defined]
    assert {"w1@obs", "w2@obs"} == set(workers)
    for w in workers.values():
        assert (w["state"], w["backend"], w["capacity"]) == ("live", "simulator", 2)
        assert w["terminal"] in ("connected", "initialized") and w["heartbeat_age"] < 5
        assert w["backlog"] == 0 and 1 <= w["sessions"] == len(w["accounts"]) <= 2  # what the pool holds
    held = [a["login"] for w in workers.values() for a in w["accounts"]]
    assert set(held) <= {a.login for a in DEMO_ACCOUNTS[:5]}
    assert all(a["server"] == "MetaQuotes-Demo" for w in workers.values() for a in w["accounts"])
    (feed,) = found["feeds"]  # type: ignore[misc]
    assert ("MetaQuotes-Demo", {"EURUSD", "BTCUSD"}) == (feed["server"], set(feed["lags"]))
    assert feed["leader"] and feed["lease_left"] > 0 and feed["open"] == {"EURUSD": True, "BTCUSD": True}
    assert all(0 <= lag < 30 for lag in feed["lags"].values())  # the pinned clock: markets open, ticks flowing
    assert {"pending": 0, "lease_expired": 0, "unknown": 0} == {
        k: found["trading"]["open"][k]
        for k in ("pending", "lease_expired", "unknown")  # type: ignore[index]
    }
    assert before == fleet.r.llen("mt5")
    text = json.dumps(found)
    assert not any(a.password.get_secret_value() in text for a in DEMO_ACCOUNTS)


def test_status_shows_feeds_and_open_trading_keys_when_there_are(observed: Observed) -> None:
    """A second server's feed status as a feed writes it, with no leader (its lease ran out); an order key left
    unknown."""
    r, now = observed.fleet.r, time.time()
    status = {"leader": "feed-a@obs", "updated": now, "symbols": "EURUSD,BTCUSD", "lag:EURUSD": 0.4, "lag:BTCUSD": 2.5,
              "open:BTCUSD": 0}  # fmt: skip
    r.hset("mt5:feed:status:Other-Server", mapping=status)
    r.zadd("mt5:orders:unknown", {"mt5:order:10000001:feedface": now - 120})
    record = {"key": "order-42", "login": 10000001, "state": "unknown", "worker": "w1@obs", "claimed_at": now - 125,
              "takeovers": 0}  # fmt: skip
    r.hset("mt5:order:10000001:feedface", mapping=record)
    try:
        found = status_json(observed.fleet)
        feed = {f["server"]: f for f in found["feeds"]}["Other-Server"]  # type: ignore[attr-defined]
        assert (None, None, {"EURUSD": 0.4, "BTCUSD": 2.5}, {"BTCUSD": False}) == (
            feed["leader"], feed["lease_left"], feed["lags"], feed["open"])  # fmt: skip
        trading = found["trading"]
        assert 1 == trading["open"]["unknown"] and 115 < trading["open"]["oldest_unknown_age"] < 130  # type: ignore[index]
        assert [("order-42", 10000001, "unknown", "w1@obs")] == [
            (k["key"], k["login"], k["state"], k["worker"])
            for k in trading["keys"]  # type: ignore[index]
        ]
    finally:
        r.delete("mt5:feed:status:Other-Server", "mt5:orders:unknown", "mt5:order:10000001:feedface")


class Tmux:
    """A private tmux server (its own socket) with one shell in a 160x50 window, as a user's terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"mt5-status-{os.getpid()}"
        self.env = env
        self("new-session", "-d", "-s", "status", "-x", "160", "-y", "50", "bash --norc --noprofile")
        self("set-option", "-t", "status", "history-limit", "0")

    def __call__(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True,
                                timeout=10)  # fmt: skip
        assert 0 == result.returncode, result.stderr
        return result.stdout

    def type(self, *keys: str) -> None:
        self("send-keys", "-t", "status", *keys)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "status")

    def wait_for(self, *texts: str, timeout: float = 20.0) -> str:
        """The screen, once it shows every one of ``texts``."""

        def showing() -> str | None:
            screen = self.screen()
            return screen if all(text in screen for text in texts) else None

        found: str = wait_for(showing, timeout, f"{texts} on screen")
        return found

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def test_status_watch_redraws_in_place_under_tmux(observed: Observed) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Debian: apt-get install tmux)")
    fleet = observed.fleet
    tmux = Tmux(_env(fleet))
    try:
        tmux.type(f"{MT5_WORKER} status --watch 0.5", "Enter")
        first = tmux.wait_for("w1@obs", "w2@obs")
        assert re.search(r"workers: 2 live, 0 departed", first)
        newcomer = DEMO_ACCOUNTS[6]
        assert str(newcomer.login) not in first
        fleet.client.login(newcomer.login, newcomer.password.get_secret_value(), newcomer.server)
        later = tmux.wait_for(str(newcomer.login))
        assert 1 == later.count("mt5-worker status ·")  # redrawn in place, not scrolled
        assert newcomer.password.get_secret_value() not in later
        tmux.type("C-c")
        tmux.type("echo status-exit=$?", "Enter")
        tmux.wait_for("status-exit=0")  # the typed command says status-exit=$?: only its output says 0
    finally:
        tmux.close()


def _env(fleet: Fleet) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "TERM": "xterm-256color", "REDIS_URL": fleet.redis_url}  # fmt: skip
