"""The benchmark scripts keep working: each runs once in ``--quick`` mode (real Redis, real workers).

No timing assertions: a benchmark's numbers depend on the machine. What is pinned is that each script runs to
the end, prints its ratio line with a verdict, and writes its section of the performance page (and its chart,
where it draws one) without touching the other sections.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from harness.env import clean_environ

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures

REPO = Path(__file__).resolve().parents[2]
RATIO = re.compile(r"^([PCDST]\d) ratio: .+ = [\d.e+-]+ \(target [<>]= [\d.]+x?: (met|NOT met)\)$", re.M)

SCRIPTS = [
    ("bench.p1_pooled_vs_naive", "P1", "p1_pooled_vs_naive.png"),
    ("bench.p2_overhead", "P2", None),
    ("bench.p3_routing", "P3", "p3_routing.png"),
    ("bench.p4_sweep", "P4", "p4_sweep.png"),
    ("bench.p5_latency", "P5", "p5_latency.png"),
    ("bench.c1_clients", "C1", None),
    ("bench.d1_rates_transfer", "D1", "d1_rates_transfer.png"),
    ("bench.d2_bridge_call", "D2", None),
    ("bench.s1_streams", "S1", "s1_streams.png"),
    ("bench.t1_order_send", "T1", None),
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("module", "section", "chart"), SCRIPTS, ids=[s[1] for s in SCRIPTS])
def test_quick_run_prints_its_ratio_and_writes_its_section(
    module: str, section: str, chart: str | None, tmp_path: Path
) -> None:
    docs = tmp_path / "performance.md"
    docs.write_text(report._skeleton().replace("Not run yet.", "untouched placeholder"))
    env = clean_environ()  # the script starts its own Redis

    run = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--docs", str(docs)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=170,
    )  # fmt: skip

    assert 0 == run.returncode, run.stdout + run.stderr
    ratios = RATIO.findall(run.stdout)
    assert ratios, run.stdout
    assert {section} == {name for name, _ in ratios}
    text = docs.read_text()
    own = text.split(f"<!-- bench:{section} -->")[1].split(f"<!-- /bench:{section} -->")[0]
    assert "untouched placeholder" not in own
    assert f"-m {module} --quick --docs" in own  # the command that produced it
    assert len(report.SECTIONS) - 1 == text.count("untouched placeholder")  # the other sections are left alone
    summary = text.split("<!-- bench:summary -->")[1].split("<!-- /bench:summary -->")[0]
    row = rf"^\| {section} \| .+ \| (yes|\*\*no\*\*) \| \d{{4}}-\d\d-\d\d \| `[0-9a-f]+\+?` \| `(.+)` \|$"
    found = re.search(row, summary, re.M)
    assert found, summary
    assert f"-m {module} --quick --docs" in found[2]  # the command that reproduces the figure
    if chart is not None:
        assert f"]({chart})" in own
        assert (tmp_path / chart).read_bytes().startswith(b"\x89PNG")
