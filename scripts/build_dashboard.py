"""Write monitoring/grafana/dashboards/mt5-worker.json, the Grafana dashboard of an mt5-worker fleet.

    .venv/bin/python scripts/build_dashboard.py           # rewrite the JSON from the definitions below
    .venv/bin/python scripts/build_dashboard.py --check   # exit 1 if the committed JSON differs from them

The JSON follows Grafana's dashboard JSON model (schemaVersion 39, Grafana 10.4 and later): no dashboard id or
uid (Grafana assigns them when it provisions the file), every panel and query on the ``${datasource}`` variable
(a Prometheus data source picked in the dashboard, never a hard-coded data source uid), ``$job`` and
``$instance`` variables read from ``mt5_worker_info``. Every query is evaluated on a real Prometheus scraping
real workers by tests/integration/test_observability.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "monitoring" / "grafana" / "dashboards" / "mt5-worker.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
W = 'job="$job", instance=~"$instance"'  # one worker job's selected instances
J = 'job="$job"'
RATE = "$__rate_interval"


def target(expr: str, legend: str = "__auto", ref: str = "A") -> dict[str, Any]:
    return {"datasource": DS, "editorMode": "code", "expr": expr, "legendFormat": legend, "range": True,
            "refId": ref}  # fmt: skip


def panel(kind: str, title: str, description: str, targets: list[tuple[str, str]], unit: str = "short",
          width: int = 8, height: int = 8, **options: Any) -> dict[str, Any]:  # fmt: skip
    refs = "ABCDEFGH"
    found: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "targets": [target(expr, legend, refs[i]) for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
    }
    if kind == "timeseries":
        found["fieldConfig"]["defaults"]["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                                      "showPoints": "never", "spanNulls": True}  # fmt: skip
        found["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                            "tooltip": {"mode": "multi", "sort": "desc"}}  # fmt: skip
    elif kind == "stat":
        found["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto",
                            "orientation": "auto"}  # fmt: skip
    found["options"] = found.get("options", {}) | options
    return found


def ts(title: str, description: str, *targets: tuple[str, str], **kw: Any) -> dict[str, Any]:
    return panel("timeseries", title, description, list(targets), **kw)


def stat(title: str, description: str, *targets: tuple[str, str], **kw: Any) -> dict[str, Any]:
    return panel("stat", title, description, list(targets), width=kw.pop("width", 4), height=kw.pop("height", 4),
                 **kw)  # fmt: skip


ROWS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Fleet", [
        stat("Workers scraped", "Workers whose /metrics Prometheus reads (job $job)",
             (f"count(mt5_worker_info{{{J}}})", "workers")),
        stat("Workers in the registry", "Live and departed workers in Redis, as the workers' heartbeats read it",
             (f'max(mt5_fleet_workers{{{J}, state="live"}})', "live"),
             (f'max(mt5_fleet_workers{{{J}, state="departed"}})', "departed"), width=5),
        stat("Terminals connected", "Terminals connected to a trade server, of the selected workers",
             (f"sum(mt5_terminal_connected{{{W}}})", "connected"), (f"count(mt5_terminal_connected{{{W}}})", "of"),
             width=5),
        stat("Sessions / capacity", "Account sessions pooled, and the pools' capacity",
             (f"sum(mt5_pool_sessions{{{W}}})", "sessions"), (f"sum(mt5_pool_capacity{{{W}}})", "capacity"),
             width=5),
        stat("Backlog", "Requests waiting in the workers' own queues or reserved by them (bounded-load routing's"
             " figure)", (f"sum(mt5_worker_backlog{{{W}}})", "backlog"), width=5),
        ts("Sessions vs capacity per worker", "Sessions each pool holds, and its capacity",
           (f"mt5_pool_sessions{{{W}}}", "{{instance}} sessions"),
           (f"mt5_pool_capacity{{{W}}}", "{{instance}} capacity")),
        ts("Backlog per worker", "Each worker's own queue plus what it reserved: what bounded-load routing reads",
           (f"mt5_worker_backlog{{{W}}}", "{{instance}}")),
        ts("Terminal state", "1: initialized / connected to a trade server / busy in a call at scrape time",
           (f"mt5_terminal_initialized{{{W}}}", "{{instance}} initialized"),
           (f"mt5_terminal_connected{{{W}}}", "{{instance}} connected"),
           (f"mt5_terminal_busy{{{W}}}", "{{instance}} busy")),
    ]),
    ("Requests", [
        ts("Requests started by task", "Tasks started per second",
           (f"sum by (task) (rate(mt5_task_runtime_seconds_count{{{W}}}[{RATE}]))", "{{task}}"), unit="reqps"),
        ts("Outcomes", "Tasks per second by outcome: succeeded, failed, retried, rejected, revoked, expired",
           (f"sum by (outcome) (job_task_outcome:mt5_tasks:rate5m{{{J}}})", "{{outcome}}"), unit="reqps"),
        ts("Failures and retries by error", "Failed and retried tasks per second, by error type and MT5 code",
           (f"sum by (outcome, error, code) (rate(mt5_task_errors_total{{{W}}}[{RATE}]))",
            "{{outcome}} {{error}} {{code}}"), unit="reqps"),
        ts("Queue wait p99 / p50 by task", "From the message's publish (or its ETA) to its start",
           (f"job_task:mt5_task_queue_wait_seconds:p99_5m{{{J}}}", "p99 {{task}}"),
           (f"job_task:mt5_task_queue_wait_seconds:p50_5m{{{J}}}", "p50 {{task}}"), unit="s", width=12),
        ts("Runtime p99 / p50 by task", "How long tasks ran",
           (f"job_task:mt5_task_runtime_seconds:p99_5m{{{J}}}", "p99 {{task}}"),
           (f"job_task:mt5_task_runtime_seconds:p50_5m{{{J}}}", "p50 {{task}}"), unit="s", width=12),
    ]),
    ("Pool", [
        ts("Logins, switches, reuses", "SDK login() calls; of them, back into a pooled session; requests served by"
           " the active session without a login",
           (f"sum(rate(mt5_logins_total{{{W}}}[{RATE}]))", "logins"),
           (f"sum(rate(mt5_switches_total{{{W}}}[{RATE}]))", "switches"),
           (f"sum(rate(mt5_reuses_total{{{W}}}[{RATE}]))", "reuses"), unit="ops"),
        ts("Evictions", "Sessions logged out by the idle sweep, or to make room (lru)",
           (f"sum by (reason) (rate(mt5_evictions_total{{{W}}}[{RATE}]))", "{{reason}}"), unit="ops"),
        ts("SDK call p99 by function", "Every SDK call through the manager",
           (f"histogram_quantile(0.99, sum by (function, le) (rate(mt5_sdk_call_duration_seconds_bucket{{{W}}}"
            f"[{RATE}])))", "{{function}}"), unit="s"),
    ]),
    ("MT5 errors", [
        ts("Failed SDK calls by code", "By MT5 error code: -6 refused credentials, -10000..-10005 IPC, -1 generic",
           (f"sum by (code) (rate(mt5_failures_total{{{W}}}[{RATE}]))", "{{code}}"), unit="ops"),
        ts("Login failures by code (10 min)", "login() calls failed in the last 10 minutes, by MT5 code",
           (f"sum by (code) (instance_code:mt5_login_failures:increase10m{{{W}}})", "{{code}}")),
        ts("Failed SDK calls by function", "By SDK function and MT5 code",
           (f"sum by (function, code) (rate(mt5_sdk_failures_total{{{W}}}[{RATE}]))", "{{function}} {{code}}"),
           unit="ops"),
    ]),
    ("Trading", [
        ts("Order outcomes", "Order attempts by outcome: done (sent), reconciled, recorded, refused, unknown, ...",
           (f"sum by (outcome) (rate(mt5_trade_outcomes_total{{{W}}}[{RATE}]))", "{{outcome}}"), unit="ops"),
        ts("Keys not done", "Idempotency keys pending, past their lease, or unknown (fleet-wide)",
           (f"max by (state) (mt5_trading_keys{{{J}}})", "{{state}}")),
        ts("Oldest unresolved key", "Seconds the oldest key has been unknown, or past its lease",
           (f"max by (state) (mt5_trading_key_oldest_age_seconds{{{J}}})", "{{state}}"), unit="s"),
    ]),
    ("Streams", [
        ts("Ticks published", "Ticks the feeds publish per second, by server and symbol",
           (f"sum by (server, symbol) (rate(mt5_feed_ticks_published_total[{RATE}]))", "{{server}} {{symbol}}"),
           unit="ops"),
        ts("Feed lag", "Terminal time minus the time of the last tick published, by server and symbol",
           ("max by (server, symbol) (mt5_feed_lag_seconds)", "{{server}} {{symbol}}"), unit="s"),
        ts("Markets open", "1 while the symbol's market is open (a feed's lag counts only then)",
           ("max by (server, symbol) (mt5_feed_market_open)", "{{server}} {{symbol}}")),
        ts("Feed leaders", "1 for the feed process leading a server; changes of leader",
           ("max by (server, instance) (mt5_feed_leader)", "{{server}} {{instance}}"),
           (f"sum by (server) (increase(mt5_feed_leader_changes_total[{RATE}]))", "changes {{server}}")),
        ts("Stream subscribers", "Live subscriptions by server",
           ("sum by (server) (mt5_stream_subscribers)", "{{server}}")),
        ts("Clients cut off", "Stream clients disconnected for falling behind, by transport",
           (f"sum by (transport) (rate(mt5_stream_clients_cut_off_total[{RATE}]))", "{{transport}}"), unit="ops"),
    ]),
]  # fmt: skip


def variables() -> list[dict[str, Any]]:
    def query_variable(name: str, label: str, query: str, **extra: Any) -> dict[str, Any]:
        return {"type": "query", "name": name, "label": label, "datasource": DS, "definition": query,
                "query": {"query": query, "refId": f"{name}-variable"}, "refresh": 2, "sort": 1, "hide": 0,
                "current": {}, "options": [], "regex": "", **extra}  # fmt: skip

    return [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus", "current": {},
         "hide": 0, "options": [], "refresh": 1, "regex": ""},
        query_variable("job", "Job", "label_values(mt5_worker_info, job)", includeAll=False, multi=False),
        query_variable("instance", "Worker", 'label_values(mt5_worker_info{job="$job"}, instance)',
                       includeAll=True, multi=True, allValue=".*"),
    ]  # fmt: skip


def dashboard() -> dict[str, Any]:
    panels, y, next_id = [], 0, 1
    for title, members in ROWS:
        panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})  # fmt: skip
        next_id, y, x, tallest = next_id + 1, y + 1, 0, 0
        for member in members:
            width, height = member["gridPos"]["w"], member["gridPos"]["h"]
            if x + width > 24:
                x, y, tallest = 0, y + tallest, 0
            panels.append(member | {"id": next_id, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
            next_id, x, tallest = next_id + 1, x + width, max(tallest, height)
        y += tallest
    return {
        "title": "mt5-worker",
        "description": "MetaTrader 5 Celery workers: fleet, requests, pool, MT5 errors, trading, streams",
        "tags": ["mt5-worker", "celery"],
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is not what this writes")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/build_dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}: {sum(p['type'] != 'row' for p in dashboard()['panels'])} panels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
