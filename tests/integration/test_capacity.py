"""``bench.capacity --quick`` keeps working: it measures the fleet's own costs on a private Redis, checks its model
against the recorded real runs and sizes a fleet, and writes the three generated sections of docs/capacity.md.

No timing assertions: the figures' structure and sanity only (a join moves about 1/(N+1) of the accounts, the model
replays P3's login counts, the validation and sizing tables are there), and the hand-written text is kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import clean_environ

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures

REPO = Path(__file__).resolve().parents[2]


def rows(text: str, header_start: str) -> list[list[str]]:
    """The rows of the markdown table whose header begins with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    body = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        body.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return body


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%").split()[0])


@pytest.mark.timeout(240)
def test_quick_run_measures_models_and_sizes_and_writes_its_sections(tmp_path: Path) -> None:
    docs = tmp_path / "capacity.md"
    page = "# Capacity\n\nHand-written prose.\n\n<!-- capacity:fleet -->\nNot run yet.\n<!-- /capacity:fleet -->\n"
    docs.write_text(page)

    run = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--quick", "--docs", str(docs)],
        cwd=REPO, env=clean_environ(), capture_output=True, text=True, timeout=230,
    )  # fmt: skip

    assert 0 == run.returncode, run.stdout + run.stderr
    text = docs.read_text()
    assert "Hand-written prose." in text and "Not run yet." not in text
    for section in ("fleet", "validation", "sizing"):
        assert 1 == text.count(f"<!-- capacity:{section} -->"), section
    assert "-m bench.capacity --quick --docs" in text  # the command that produced it

    routing = rows(text, "workers | before")
    assert ["10", "100"] == [row[0] for row in routing]
    assert all(number(cell) > 0 for row in routing for cell in row[1:6])
    for workers, _, moved, one_in, *_ in rows(text, "workers N"):
        assert abs(number(moved) / number(one_in) - 1) < 0.35, (workers, moved, one_in)  # about 1/(N+1)

    members = {row[0]: row for row in rows(text, "what | Redis commands/s")}
    assert number(members["heartbeats + load reports + status records, nobody departed"][1]) > 0
    assert re.search(r"20 copies of a [\d,]+-byte message delivered", text)  # every subscriber got the sweep
    assert re.search(r"output buffers held [\d,]+ bytes right after the publish", text)  # a size, never negative

    validation = {row[0]: row for row in rows(text, "figure | measured")}
    for key in "abcd":  # the model replays P3's own trace: its login counts come out (nearly) as measured
        measured, model = (number(c) for c in validation[f"P3 ({key}) logins, 10,000 requests"][1:3])
        assert abs(model / measured - 1) < 0.05, (key, measured, model)
    assert "P5 capacity (round-robin FIFO, backlog) (calibrated)" in validation
    assert len([name for name in validation if name.startswith("P5 (d) at 90%")]) == 4
    assert re.search(r"\*\*\d+ of \d+ figures within 25%\*\*", text)

    (sized,) = rows(text, "traffic | accounts | terminals, p99")
    assert sized[1] == "1,000" and number(sized[2]) >= 1
