"""Flower, the monitoring UI an operator runs beside the workers, and its HTTP API as a reader sees it.

Tests and the credential scan both read Flower's pages and API to check that no password shows there, so
:class:`FlowerAPI` keeps every body it received for that search.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.processes import LOOPBACK, Process
from mt5_worker.cli.devstack import celery_argv, free_port, wait_for

# The columns of Flower's task table, as its page asks for them.
TASK_COLUMNS = ("name", "uuid", "state", "args", "kwargs", "result", "received", "started", "runtime", "worker")


class FlowerAPI:
    """Flower's HTTP API with basic auth (``user:password``), as an operator's browser or script reads it."""

    def __init__(self, url: str, basic_auth: str | None = None) -> None:
        self.url = url
        self.auth = {"Authorization": "Basic " + base64.b64encode(basic_auth.encode()).decode()} if basic_auth else {}
        self.bodies: list[str] = []  # every body received, to search for passwords at the end

    def text(self, path: str, auth: bool = True) -> str:
        """GET ``path``; ``auth=False`` asks without credentials (``HTTPError`` 401 when Flower requires them)."""
        request = urllib.request.Request(self.url + path, headers=self.auth if auth else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            body: str = response.read().decode()
        self.bodies.append(body)
        return body

    def json(self, path: str) -> Any:
        return json.loads(self.text(path))

    def serving(self) -> bool:
        try:
            return "OK" == self.text("/healthcheck", auth=False)
        except OSError:  # not listening yet
            return False


def datatable_query(length: int) -> str:
    """The query Flower's task page sends for its table (DataTables parameters), newest first."""
    params: dict[str, object] = {"draw": 1, "start": 0, "length": length, "search[value]": "",
                                 "order[0][column]": 6, "order[0][dir]": "desc"}  # fmt: skip
    params |= {f"columns[{i}][data]": name for i, name in enumerate(TASK_COLUMNS)}
    return urllib.parse.urlencode(params)


class FlowerProcess(Process):
    """``celery flower`` on a free loopback port, behind basic auth when ``basic_auth`` is given (as deployed)."""

    ready_timeout = 60.0

    def __init__(self, env: Mapping[str, str], log_dir: Path, basic_auth: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.basic_auth = basic_auth
        super().__init__("flower", dict(env) | ({"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {}), log_dir)

    def argv(self) -> list[str]:
        return celery_argv("flower", f"--port={self.port}", f"--address={LOOPBACK}")

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until it answers its health check (it logs nothing reliable to wait for)."""
        probe = FlowerAPI(self.url)
        wait_for(lambda: probe.serving() or not self.running, timeout or self.ready_timeout, "flower to serve")
        if not self.running:
            raise RuntimeError(f"flower exited:\n{self.log_text()[-3000:]}")

    def api(self) -> FlowerAPI:
        return FlowerAPI(self.url, self.basic_auth)
