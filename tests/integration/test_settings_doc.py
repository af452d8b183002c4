"""The configuration table of docs/configuration.md is generated from Settings and must not drift from it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mt5_worker.cli.settings_doc import settings_table

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures


def test_settings_markdown_subcommand_prints_the_table() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MT5_", "CELERY_"))}
    result = subprocess.run(
        [sys.executable, "-m", "mt5_worker.cli", "settings", "--markdown"],
        env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    assert settings_table() == result.stdout
