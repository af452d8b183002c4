"""The example web service (``examples/fastapi_app.py``) under uvicorn, as a child process of a fleet.

What the tests and bench S1 read from it is what an operator would: its HTTP API, its ``/metrics`` (Prometheus'
text format) and its memory as the kernel counts it (``VmRSS`` in ``/proc/<pid>/status``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.env import REPO
from harness.processes import LOOPBACK, Process
from mt5_worker.cli.devstack import free_port, wait_for

APP = "examples.fastapi_app:app"


class ExampleService(Process):
    """``uvicorn examples.fastapi_app:app`` on a free loopback port (one process, no reload): ready once it
    answers ``/openapi.json``. ``env`` configures it as it configures a worker (``REDIS_URL``, ``MT5_*``)."""

    ready_timeout = 60.0

    def __init__(self, env: Mapping[str, str], log_dir: Path, name: str = "uvicorn", args: Sequence[str] = ()) -> None:
        self.args = tuple(args)  # more uvicorn options (``--ws-per-message-deflate false``)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.ws_url = f"ws://{LOOPBACK}:{self.port}"
        super().__init__(name, env, log_dir)

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", APP, "--host", LOOPBACK, "--port", str(self.port),
                "--log-level", "warning", "--app-dir", str(REPO), *self.args]  # fmt: skip

    def wait_ready(self, timeout: float | None = None) -> None:
        wait_for(lambda: self._answers() or not self.running, timeout or self.ready_timeout, "the service to answer")
        if not self.running:
            raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` (a counter's ``_total`` included) whose labels include ``labels``."""
        text = httpx.get(f"{self.url}/metrics/", timeout=30).text
        return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name in (name, f"{name}_total") and labels.items() <= sample.labels.items())  # fmt: skip

    def rss_bytes(self) -> int:
        """Resident memory of the service's process now (``VmRSS``)."""
        return rss_bytes(self.pid)


def rss_bytes(pid: int | None) -> int:
    """Resident memory of process ``pid`` (``VmRSS`` of ``/proc/<pid>/status``, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) process ``pid`` has used so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15
