"""The settings table of docs/configuration.md, generated from Settings (cli/settings_doc.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt5_worker.cli.settings_doc import DOC, END, START, main, render, settings_table
from mt5_worker.settings import Settings, env_name


def test_configuration_page_table_matches_settings() -> None:
    assert Path(__file__).resolve().parents[2] / "docs" / "configuration.md" == DOC  # what `make docs` rewrites
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "the table in docs/configuration.md is out of date: run `make docs`"


def test_table_has_one_row_per_variable_with_its_default_and_description() -> None:
    rows = settings_table().splitlines()[2:]
    assert len(Settings.model_fields) == len(rows)
    for (name, field), row in zip(Settings.model_fields.items(), rows, strict=True):
        assert row.startswith(f"| `{env_name(name)}`")
        unescaped = row.replace("\\|", "|").replace("\\<", "<")
        assert (field.description or "") in unescaped
    by_var = {row.split("`")[1]: row for row in rows}
    assert "| `MT5_CONNECTION_POOL_SIZE` | `20` |" in by_var["MT5_CONNECTION_POOL_SIZE"]
    assert "| unset |" in by_var["MT5_BRIDGE_TOKEN"]
    assert "| `false` |" in by_var["MT5_TERMINAL_PORTABLE"]
    assert "on Windows" in by_var["MT5_BRIDGE_BACKEND"]  # platform-dependent default stated, not computed


def test_regenerating_rewrites_only_the_marked_region(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(f"# title\n\nbefore\n{START}\n| stale | table |\n{END}\nafter\n", encoding="utf-8")
    assert 0 == main([str(page)])
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# title\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "stale" not in text and settings_table() in text
    assert render(text) == text  # idempotent
    with pytest.raises(ValueError, match="settings-table"):
        render("no markers here")
