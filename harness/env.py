"""The environment of every child process the harness starts: only what the harness gives it.

A developer's shell may hold ``MT5_*``, ``CELERY_*``, ``FLOWER_*`` or ``REDIS_*`` variables (a real broker, a
real terminal's bridge token). A test, benchmark or fault scenario must not pick them up, so a child starts from
this process's environment without them, and gets its settings explicitly.

Every simulated terminal of a harness parent (a test session, a benchmark, a campaign) and of its children runs
on one pinned clock: :func:`clock_offset` puts the simulated trade servers at a Wednesday noon when the parent
started, whatever the real date, so no figure depends on the real weekday or hour. :func:`pinned_offset` gives
the offset of another instant (a weekend, for tests about closed markets).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mt5_worker.cli.devstack import TRADING_HOUR, clock_offset_to

REPO = Path(__file__).resolve().parent.parent
DEVELOPER_PREFIXES = ("MT5_", "CELERY_", "FLOWER_", "REDIS_")
CLOCK_OFFSET = "MT5_SIMULATOR_CLOCK_OFFSET"
# The instants a harness pins the simulated trade servers to: trading (the default) and a weekend, when every FX
# symbol is closed and BTCUSD still trades.
PINS = {"trading": TRADING_HOUR, "weekend": datetime(2026, 12, 5, 12, tzinfo=UTC)}


def env_values(settings: Mapping[str, Any]) -> dict[str, str]:
    """Settings as environment variables, written the way :class:`~mt5_worker.settings.Settings` reads them back.

    Dicts and lists (latency profiles, fault scripts) become JSON, which pydantic-settings parses for complex
    fields; ``str()`` of a dict would not parse. Paths become absolute, since a child runs in its log directory.
    """
    return {name: _env_value(value) for name, value in settings.items()}


def _env_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, Path):
        return str(value.resolve())
    return str(value)


def clean_environ() -> dict[str, str]:
    """This process's environment without the developer's settings (``PATH`` and the rest are kept)."""
    return {name: value for name, value in os.environ.items() if not name.startswith(DEVELOPER_PREFIXES)}


def interpreter_env() -> dict[str, str]:
    """The environment of a harness child's interpreter, before any setting: clean, able to import this checkout,
    unbuffered (also the fork server's, whose children must start as any other child would).

    ``PYTHONPATH`` puts the checkout first because a child runs in its log directory, not here, and still
    imports ``celeryconfig`` and ``bench.tasks`` from it; unbuffered output puts every line in the log file as
    it is written, where the harness waits for it.
    """
    env = clean_environ()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def child_env(settings: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The environment of a harness child: :func:`interpreter_env` plus ``settings``. Simulated terminals trade on
    :func:`trade_store` and run on the pinned clock (:func:`clock_offset`) unless ``settings`` name another
    ``MT5_SIMULATOR_TRADE_STORE`` or offset.
    """
    env = interpreter_env()
    env["MT5_SIMULATOR_TRADE_STORE"] = str(trade_store())
    env[CLOCK_OFFSET] = str(clock_offset())
    return env | env_values(settings or {})


@functools.cache
def clock_offset() -> float:
    """The simulated trade servers' clock offset of this harness parent and its children: at a Wednesday noon when
    the parent first asked, then running on (the same value for every process, so they all see one market)."""
    return pinned_offset("trading")


@functools.cache
def pinned_offset(pin: str) -> float:
    """The clock offset that put the simulated trade servers at ``PINS[pin]`` when this process first asked."""
    return clock_offset_to(PINS[pin])


def simulated_now() -> float:
    """The simulated trade servers' time (epoch seconds) on the pinned clock: what "now" is to a simulated
    terminal of this harness, to build date ranges and expectations from."""
    return time.time() + clock_offset()


@functools.cache
def trade_store() -> Path:
    """The simulated trade servers of every process this harness parent starts (a test session, a benchmark, a
    campaign): its own file, removed when it exits, so no run sees another's orders (the default file is one per
    machine, shared by every simulated terminal, as a real trade server is)."""
    path = Path(tempfile.gettempdir()) / f"mt5-worker-harness-{os.getpid()}.trade-servers.sqlite3"
    atexit.register(_remove_store, path)
    return path


def _remove_store(path: Path) -> None:
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        with contextlib.suppress(OSError):
            (path.parent / name).unlink()
