"""Output of the benchmark scripts: the ratio line, their section of docs/performance.md, PNG charts."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import markdown, runs
from harness.env import REPO
from harness.markdown import table
from harness.runs import command, invocation, machine, revision

__all__ = [
    "DOCS", "SECTIONS", "Panel", "Verdict", "argv", "bar_chart", "command", "docs_arg", "machine",
    "parser", "ratio_line", "table", "update_section",
]  # fmt: skip

DOCS = REPO / "docs" / "performance.md"
SECTIONS = ("P1", "P2", "P2-RabbitMQ", "P3", "P4", "P5", "C1", "D1", "D2", "S1", "T1")
HEADER = """\
# Performance

The benchmarks, each a script in `bench/` (see `bench/README.md`) that runs on the simulator
against a private Redis and, for P1-P3, real worker processes (the production `celery -A mt5_worker.worker.app
worker --pool=prefork --concurrency=1`). Each prints its ratio and rewrites its own section below, with the
command that produced it; text outside the sections is kept. P1-P3 time tasks by the result backend's
`date_done` (written by the worker as each task finishes), so rates are measured between completions on the
worker side, not by how fast the benchmark client polls; P4 times `WorkerRuntime.sweep` in-process.

The `realistic` latency profile (initialize 2 s, login 0.5 s, every other call 2 ms) is an assumption, not a
measurement of a real terminal (no public measurement of `login()` exists; see the SDK notes): read the
ratios, not the absolute numbers. `make bench` runs them all (about 40 minutes). `--quick` (tiny sizes,
seconds) is what `tests/integration/test_bench.py` runs, with no timing assertions.

**Machine.** A 2-core VM that also runs Redis, every worker process (a prefork parent and child each) and the
benchmark client, and at times other test suites. CPU-bound runs (P2, the zero-latency part of P3) compete for
those two cores, so their rates move by 10-20% between runs; P2 alternates its tasks round by round and takes
the median of per-round ratios for that reason.
"""


def ratio_line(name: str, what: str, value: float, target: str, met: bool) -> str:
    """The one line each script prints (and the tests look for): ``P1 ratio: ... (target ...: met)``."""
    return f"{name} ratio: {what} = {value:.3g} (target {target}: {'met' if met else 'NOT met'})"


@dataclass(frozen=True)
class Verdict:
    """One row of the summary table: what was compared, the value, the target, whether it was met."""

    measure: str
    value: str
    target: str
    met: bool


# Each figure with where it comes from: the day it was measured, the commit measured ("+": with changes no
# commit holds) and the command that reproduces it.
SUMMARY_HEADER = ["", "measure", "result", "target", "met", "date", "commit", "command"]


MARKS = markdown.Sections("bench")


def update_section(path: Path, name: str, body: str, verdicts: Sequence[Verdict] = ()) -> None:
    """Replace section ``name`` of ``path`` (created with every section as a placeholder if missing), and its
    rows of the summary table."""

    def edit(text: str) -> str:
        text = MARKS.replace(text, name, body)
        if verdicts:
            rows = [r for r in _summary_rows(text) if r[0] != name]
            provenance = [f"{datetime.now(UTC):%Y-%m-%d}", f"`{revision()}`", f"`{invocation()}`"]
            rows += [[name, v.measure, v.value, v.target, "yes" if v.met else "**no**", *provenance] for v in verdicts]
            rows.sort(key=lambda r: r[0])  # stable: a script's rows keep their order
            text = MARKS.replace(text, "summary", table(SUMMARY_HEADER, rows))
        return text

    markdown.rewrite(path, _skeleton, edit)


def _summary_rows(text: str) -> list[list[str]]:
    lines = (MARKS.body(text, "summary") or "").strip().splitlines()[2:]  # below the header and the rule
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]


def _skeleton() -> str:
    parts = [HEADER, f"## Summary\n\n{MARKS.block('summary', table(SUMMARY_HEADER, []))}\n"]
    parts += [MARKS.placeholder(n) for n in SECTIONS]
    return "\n".join(parts)


@dataclass
class Panel:
    """One bar chart: a group of bars per label, one bar per series, values written on the bars."""

    title: str
    labels: Sequence[str]
    series: dict[str, Sequence[float]]
    ylabel: str
    log: bool = False
    hline: tuple[float, str] | None = None  # a reference level and its caption


def bar_chart(path: Path, title: str, *panels: Panel) -> None:
    """Panels side by side in one PNG (matplotlib, Agg backend: files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), dpi=110, squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        _draw(ax, panel)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _draw(ax: Any, panel: Panel) -> None:
    width = 0.8 / len(panel.series)
    for i, (name, values) in enumerate(panel.series.items()):
        xs = [x + (i - (len(panel.series) - 1) / 2) * width for x in range(len(panel.labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
    if panel.hline is not None:
        level, caption = panel.hline
        ax.axhline(level, color="grey", linestyle="--", linewidth=1, label=caption)
    ax.set_xticks(range(len(panel.labels)), [textwrap.fill(label, 16) for label in panel.labels], fontsize=8)
    ax.set_ylabel(panel.ylabel)
    ax.set_title(panel.title, fontsize=10)
    if panel.log:
        ax.set_yscale("log")
        values = [x for v in panel.series.values() for x in v]
        ax.set_ylim(min(values) / 3, max(values) * 3)  # bars start well below the smallest; room for labels
    ax.margins(y=0.15)
    if len(panel.series) > 1 or panel.hline is not None:
        ax.legend(fontsize=8)


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's parser with the common flags (``--quick``, ``--docs``, ``--keep-logs``)."""
    return runs.parser(doc, DOCS)


def docs_arg(quick: bool, given: Path | None) -> Path | None:
    """Where to write: ``--docs`` if given; a full run defaults to docs/performance.md, ``--quick`` to nowhere."""
    return runs.docs_target(quick, given, DOCS)


def argv() -> list[str]:
    return sys.argv[1:]
