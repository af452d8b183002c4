"""Regenerate docs/dashboard.png: the Grafana dashboard's panels drawn from a real Prometheus's data.

    .venv/bin/python scripts/dashboard_picture.py [--seconds 90] [--out docs/dashboard.png]

Grafana is not available here, so this draws each panel itself (matplotlib) from the very queries of
monitoring/grafana/dashboards/mt5-worker.json, evaluated by Prometheus (Debian's ``prometheus``) over the run:
a private Redis, two workers on the simulator, a market data feed (EURUSD, BTCUSD), Prometheus scraping them
every second with the project's rules, and traffic through MT5Client (account reads, a refused login, retried
requests, BTCUSD orders, and a burst that builds a backlog halfway). The one panel the example web service feeds
("Clients cut off") is left out. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness import dashboard  # noqa: E402
from harness.fleet import Fleet  # noqa: E402
from harness.prometheus import PrometheusProcess  # noqa: E402
from mt5_worker.cli.devstack import free_port, wait_for  # noqa: E402
from mt5_worker.simulator import DEMO_ACCOUNTS  # noqa: E402

STEP = 2.0


def burst(fleet: Fleet, requests: int) -> None:
    """Requests sent at once, without waiting: a backlog, and queue waits, on the workers."""
    pending = []
    for i in range(requests):
        a = DEMO_ACCOUNTS[i % 5]
        pending.append(fleet.client.submit_account_info(a.login, a.server, a.password.get_secret_value()))
    for result in pending:
        result.get(timeout=120)


def draw(api: object, start: float, end: float, out: Path) -> int:
    queries = [q for q in dashboard.queries() if q.panel not in dashboard.WEB_SERVICE_PANELS]
    panels: dict[tuple[str, str], list[dashboard.Query]] = {}
    for q in queries:
        panels.setdefault((q.row, q.panel), []).append(q)
    columns = 4
    rows = math.ceil(len(panels) / columns)
    plt.style.use("dark_background")
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 5.2, rows * 3.1), squeeze=False)
    drawn = 0
    for ax, ((row, title), members) in zip(axes.flat, panels.items(), strict=False):
        lines = 0
        for q in members:
            for series in api.query_range(dashboard.promql(q.expr), start, end, STEP):  # type: ignore[attr-defined]
                times = [float(t) - start for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                label = _legend(q.legend, series["metric"])
                ax.plot(times, values, linewidth=1.2, label=label[:40])
                lines += 1
        ax.set_title(f"{row} · {title}", fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.2)
        if 0 < lines <= 8:
            ax.legend(fontsize=6, loc="upper left", frameon=False)
        drawn += lines > 0
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    figure.suptitle("mt5-worker dashboard: two workers and a feed on the simulator, from Prometheus (x: seconds)",
                    fontsize=12, x=0.01, ha="left")  # fmt: skip
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    figure.savefig(out, dpi=72)
    return drawn


def _legend(template: str, labels: dict[str, str]) -> str:
    if template in ("", "__auto"):
        return ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0, help="seconds of traffic (90)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="mt5-dashboard-"))
    fleet = Fleet(log_dir, host="demo")
    try:
        ports, feed_port = [free_port(), free_port()], free_port()
        workers = [fleet.worker(f"w{i + 1}", wait=False, MT5_METRICS_PORT=port, **dashboard.WORKER_SETTINGS)
                   for i, port in enumerate(ports)]  # fmt: skip
        fleet.feed("feed", wait=False, MT5_METRICS_PORT=feed_port, **dashboard.FEED_SETTINGS)
        jobs = {dashboard.JOB: [f"127.0.0.1:{p}" for p in ports], dashboard.FEED_JOB: [f"127.0.0.1:{feed_port}"]}
        prometheus = fleet.track(PrometheusProcess(log_dir, jobs)).start()
        fleet.wait_serving(workers)
        api = prometheus.api()
        wait_for(lambda: len(api.query("up == 1")) == 3, 30, "both workers and the feed scraped")
        start = time.time()
        sent = dashboard.traffic(fleet, args.seconds / 2)
        burst(fleet, 200)
        sent_late = dashboard.traffic(fleet, args.seconds / 2)
        time.sleep(3)
        end = time.time()
        drawn = draw(api, start, end, args.out)
        total = {k: sent[k] + sent_late[k] for k in sent}
        print(f"wrote {args.out}: {drawn} panels with data; sent {total} and a burst of 200 reads")
    finally:
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
