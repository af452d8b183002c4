"""A real Prometheus (Debian's ``prometheus`` package) scraping a fleet's workers, and its HTTP API.

The tests and ``scripts/dashboard_picture.py`` run it with the project's rules (monitoring/prometheus/rules) and
evaluate the dashboard's and the alerts' expressions through ``/api/v1/query``, as Grafana and Alertmanager's
users would. It scrapes and evaluates every second, keeps its data in its log directory and is stopped with the
fleet.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.processes import LOOPBACK, Process
from mt5_worker.cli.devstack import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "monitoring" / "prometheus" / "rules" / "mt5-worker.rules.yml"


class PrometheusError(RuntimeError):
    """The API answered with an error (a bad expression, say)."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            found = json.loads(response.read())
        if found.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {found.get('errorType')}: {found.get('error')}")
        return found["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's series (``metric`` labels, ``value`` [time, "text"])."""
        params: dict[str, Any] = {"query": expr} | ({"time": at} if at is not None else {})
        data = self.get("/api/v1/query", **params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [data]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.get("/api/v1/targets")["activeTargets"]
        return active

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class PrometheusProcess(Process):
    """``prometheus`` on a free loopback port, scraping ``jobs`` (job name -> ``host:port`` targets) every
    ``interval`` seconds and evaluating ``rule_files`` as often."""

    ready_timeout = 30.0

    def __init__(
        self,
        log_dir: Path,
        jobs: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (RULES,),
        interval: float = 1.0,
        binary: str | None = None,
    ) -> None:
        found = binary or prometheus_binary()
        if found is None:
            raise RuntimeError("prometheus is not installed (Debian: apt-get install prometheus)")
        self.binary = found
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.config = log_dir / "prometheus.yml"
        every = f"{int(interval * 1000)}ms"
        config = {
            "global": {"scrape_interval": every, "evaluation_interval": every, "scrape_timeout": every},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(targets)}]} for job, targets in jobs.items()
            ],
        }
        self.config.write_text(json.dumps(config, indent=2))  # JSON is YAML too
        super().__init__("prometheus", {"PATH": "/usr/bin:/bin"}, log_dir)

    def argv(self) -> list[str]:
        return [
            self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.log_dir / 'prometheus-data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}", "--log.level=warn",
        ]  # fmt: skip

    def wait_ready(self, timeout: float | None = None) -> None:
        api = self.api()
        wait_for(lambda: api.ready() or not self.running, timeout or self.ready_timeout, "prometheus to be ready")
        if not self.running:
            raise RuntimeError(f"prometheus exited:\n{self.log_text()[-3000:]}")

    def api(self) -> PrometheusAPI:
        return PrometheusAPI(self.url)
