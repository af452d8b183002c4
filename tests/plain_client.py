"""A Celery client that knows nothing of mt5_worker, run as its own process that cannot import it: what a web app in
another codebase (or, by its messages, another language) is (docs/interop.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Run with ``python -I`` from an empty directory: neither the repository nor anything of ours is importable.
PLAIN_CLIENT = r'''
import importlib.abc
import json
import os
import sys
import uuid

# Under scripts/faketime_check.sh, python -I skips the sitecustomize that makes time.sleep relative (PYTHONPATH is
# ignored); it names its directory here so that this process waits as the others there do.
if os.environ.get("FAKETIME_SITE_DIR"):
    sys.path.insert(0, os.environ["FAKETIME_SITE_DIR"])
    import sitecustomize  # noqa: F401
    sys.path.pop(0)


class Refuse(importlib.abc.MetaPathFinder):
    """The project is installed in this virtualenv (editable): refuse it, as on a machine without it."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("mt5_worker", "celeryconfig", "tests"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Refuse())
for name in ("mt5_worker", "celeryconfig"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable: not a plain client")

from celery import Celery
from kombu import Connection

url, scenario, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
# Celery's defaults but for a broker URL and a result backend URL (the broker's, unless it is RabbitMQ).
app = Celery("plain", broker=url, backend=params.get("backend") or url, set_as_current=False)
app.conf.task_protocol = params.get("protocol", 2)


def outcome(result):
    try:
        return {"id": result.id, "result": result.get(timeout=30)}
    except Exception as exc:
        kind = type(exc)
        return {"id": result.id, "error": {"type": kind.__name__, "module": kind.__module__, "args": list(exc.args)}}


if scenario == "send_task":
    pending = [app.send_task(name, kwargs=kwargs) for name, kwargs in params["calls"]]
    print(json.dumps([outcome(r) for r in pending]))
elif scenario == "hand_built_protocol_1":
    sent = []
    with Connection(url) as connection:
        producer = connection.Producer()
        for name, kwargs in params["calls"]:
            task_id = str(uuid.uuid4())
            body = {
                "task": name, "id": task_id, "args": [], "kwargs": kwargs, "retries": 0, "eta": None,
                "expires": None, "utc": True, "callbacks": None, "errbacks": None, "timelimit": [None, None],
                "taskset": None, "chord": None,
            }
            producer.publish(
                json.dumps(body).encode(), exchange="celery", routing_key="celery",
                content_type="application/json", content_encoding="utf-8",
            )
            sent.append(app.AsyncResult(task_id))
    print(json.dumps([outcome(r) for r in sent]))
'''


def plain_client(tmp_path: Path, url: str, scenario: str, **params: Any) -> list[dict[str, Any]]:
    """Run the plain client as its own isolated process; what it got, one entry per call. ``url`` is the broker
    (and the result backend unless ``backend=`` names another)."""
    home = tmp_path / "plain-client"
    home.mkdir(exist_ok=True)
    script = home / "client.py"
    script.write_text(PLAIN_CLIENT)
    argv = [sys.executable, "-I", str(script), url, scenario, json.dumps(params)]
    done = subprocess.run(argv, cwd=home, capture_output=True, text=True, timeout=120)
    assert 0 == done.returncode, done.stderr[-3000:]
    outcomes: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return outcomes
