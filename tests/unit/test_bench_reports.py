"""The benchmarks' report helpers: a section replaced in docs/performance.md, P3's lower bound."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from bench import report


def test_update_section_replaces_only_its_own_block_and_summary_rows(tmp_path: Path) -> None:
    docs = tmp_path / "performance.md"
    report.update_section(docs, "P2", "## P2\nfirst", [report.Verdict("m", "0.5", ">= 0.9", False)])
    report.update_section(docs, "P1", "## P1\nonly", [report.Verdict("a", "9x", ">= 5x", True)])
    report.update_section(docs, "P2", "## P2\nsecond", [report.Verdict("m", "0.95", ">= 0.9", True)])
    report.update_section(docs, "P9", "## P9\nappended")

    text = docs.read_text()
    assert "second" in text and "first" not in text
    assert 1 == text.count("<!-- bench:P2 -->")
    assert text.rstrip().endswith("appended\n<!-- /bench:P9 -->")
    assert len(report.SECTIONS) - 2 == text.count("Not run yet.")  # all but P1 and P2
    summary = text.split("<!-- bench:summary -->")[1].split("<!-- /bench:summary -->")[0]
    rows = [line.split(" | ")[:5] for line in summary.strip().splitlines()[2:]]
    assert [["| P1", "a", "9x", ">= 5x", "yes"], ["| P2", "m", "0.95", ">= 0.9", "yes"]] == rows
    date, commit, command = summary.strip().splitlines()[-1].strip(" |").split(" | ")[5:]
    assert f"{datetime.now(UTC):%Y-%m-%d}" == date  # each figure with its day, commit and command
    assert re.fullmatch(r"`([0-9a-f]{7,}\+?|unknown)`", commit), commit
    assert command.startswith("`.venv/bin/python -m "), command


def test_lower_bound_counts_one_login_per_account_per_window_per_worker() -> None:
    from bench.p3_results import lower_bound

    trace = [(login, "S", "pw") for login in [1, 2, 1, 3, 1, 1, 2, 2]]
    assignment = {1: "w0", 2: "w1", 3: "w0"}
    # w0 sees 1 1 3 1 1 -> windows of 2: {1} {3,1} {1} = 4; w1 sees 2 2 2 -> {2} {2} = 2
    assert 6 == lower_bound(trace, assignment, window=2)
    assert 3 == lower_bound(trace, assignment, window=100)  # w0: {1,3}, w1: {2}
