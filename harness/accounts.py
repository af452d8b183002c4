"""The simulated terminal's account file (``MT5_SIMULATOR_ACCOUNTS``), as workers and bridges load it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mt5_worker.simulator.specs import AccountSpec


def write_accounts(path: Path, accounts: Iterable[AccountSpec]) -> Path:
    """Write ``accounts`` with their passwords in clear, and return ``path``.

    It is the terminal's own store, so the passwords must be there; name it ``*.json``, not ``*.log``: the
    fault campaign's credential scan reads every ``*.log`` of a run and must not count this file.
    """
    rows = [a.model_dump(mode="json") | {"password": a.password.get_secret_value()} for a in accounts]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path
