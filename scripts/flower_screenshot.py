"""Regenerate docs/flower-tasks.png: Flower's task list after a few mt5 tasks, passwords redacted.

    .venv/bin/python scripts/flower_screenshot.py [--out docs/flower-tasks.png]

Starts a private Redis, one worker on the simulator and Flower (all stopped at the end), runs a few tasks
through MT5Client (account_info, login, a refused login, health, pool_stats), then renders Flower's /tasks
page with headless Chromium (Debian: ``apt-get install chromium``). Before saving, it checks the rendered page
lists the tasks, shows the redacted password and holds no password.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from harness.env import clean_environ  # noqa: E402
from mt5_worker.cli.devstack import ManagedProcess, RedisServer, celery_argv, free_port, wait_for, worker_argv  # noqa: E402
from mt5_worker.errors import MT5Error  # noqa: E402
from mt5_worker.settings import Settings  # noqa: E402
from mt5_worker.simulator import DEMO_ACCOUNTS  # noqa: E402

WRONG_PASSWORD = "not-the-password-123"
WINDOW = "1720,820"
COLUMNS = "name,state,kwargs,result,received,runtime,worker"  # Flower hides arguments by default


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "flower-tasks.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        print("no chromium: apt-get install -y chromium (or pass --chromium PATH)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mt5-flower-") as tmp:
        return _run(Path(tmp), args.out, args.chromium)


def _run(tmp: Path, out: Path, chromium: str) -> int:
    redis = RedisServer(tmp).start()
    env = clean_environ() | {"REDIS_URL": redis.url, "MT5_BACKEND": "simulator", "MT5_LOG_FORMAT": "json"}
    env["FLOWER_UNAUTHENTICATED_API"] = "true"  # the script reads one task id from Flower's API
    os.environ.update(env)  # this process's client uses the same Redis
    port = free_port()
    # Loopback only and gone in a minute: no basic auth, so Chromium needs no credentials.
    flower_argv = celery_argv("flower", f"--port={port}", "--address=127.0.0.1", f"--tasks_columns={COLUMNS}")
    processes = [
        ManagedProcess("worker", worker_argv("celery@mt5-demo-host"), env, tmp),
        ManagedProcess("flower", flower_argv, env, tmp),
    ]
    try:
        for process in processes:
            process.start()
        processes[0].wait_for_log("ready.", timeout=60)
        wait_for(lambda: _serving(f"http://127.0.0.1:{port}/healthcheck"), 30, "Flower to serve")
        _run_tasks()
        url = f"http://127.0.0.1:{port}/tasks"
        wait_for(lambda: "mt5.login" in _render(chromium, url, tmp, "--dump-dom"), 30, "Flower to list the tasks")
        _check(_render(chromium, url, tmp, "--dump-dom"))
        out.parent.mkdir(parents=True, exist_ok=True)
        _render(chromium, url, tmp, f"--screenshot={out.resolve()}")
        print(f"wrote {out} ({out.stat().st_size} bytes)")
        # One task's own page: its full arguments, the password among them redacted.
        task_url = f"http://127.0.0.1:{port}/task/{_first_account_info(port)}"
        _check(_render(chromium, task_url, tmp, "--dump-dom"), listing=False)
        detail = out.with_name(out.stem.replace("tasks", "task") + out.suffix)
        _render(chromium, task_url, tmp, f"--screenshot={detail.resolve()}")
        print(f"wrote {detail} ({detail.stat().st_size} bytes)")
        return 0
    finally:
        for process in reversed(processes):
            process.stop()
        redis.stop()


def _run_tasks() -> None:
    from mt5_worker.client import MT5Client

    client = MT5Client(settings=Settings.load(_env_file=None))
    for account in DEMO_ACCOUNTS[:3]:
        client.account_info(account.login, account.server, account.password.get_secret_value())
    client.account_info(DEMO_ACCOUNTS[0].login)  # pooled: no password in the request at all
    account = DEMO_ACCOUNTS[5]
    client.login(account.login, account.password.get_secret_value(), account.server)
    try:
        client.login(DEMO_ACCOUNTS[4].login, WRONG_PASSWORD, DEMO_ACCOUNTS[4].server)
    except MT5Error as exc:
        print(f"refused login, as intended: {exc}")
    client.health()
    client.pool_stats()
    client.close()


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _render(chromium: str, url: str, tmp: Path, mode: str) -> str:
    """Load ``url`` headless and let its scripts fill the table (virtual time), then dump or screenshot."""
    argv = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={tmp / 'chromium'}", f"--window-size={WINDOW}", "--force-device-scale-factor=1",
        "--virtual-time-budget=8000", mode, url,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def _first_account_info(port: int) -> str:
    """The id of the first ``mt5.account_info`` sent with a password (Flower's JSON API, unauthenticated here)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tasks", timeout=10) as response:
        tasks = json.load(response)
    found = [t for t in tasks.values() if t["name"] == "mt5.account_info" and "**********" in (t["kwargs"] or "")]
    return str(min(found, key=lambda t: t["received"])["uuid"])


def _check(dom: str, listing: bool = True) -> None:
    """The picture must show what docs/operations.md says it shows."""
    secrets = [a.password.get_secret_value() for a in DEMO_ACCOUNTS] + [WRONG_PASSWORD]
    leaked = [s for s in secrets if s in dom]
    if leaked:
        raise RuntimeError("a password appears in Flower's task page")
    for expected in ("mt5.account_info", "**********") + (("mt5.login", "FAILURE") if listing else ()):
        if expected not in dom:
            raise RuntimeError(f"Flower's task page does not show {expected!r}")


if __name__ == "__main__":
    sys.exit(main())
