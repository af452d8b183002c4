"""A benchmark's or a fault scenario's run from the command line: the flags every such script takes, where
its processes' logs go, and the lines its doc section quotes to say how the figures were produced."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from harness.env import REPO


def parser(doc: str | None, default_docs: Path) -> argparse.ArgumentParser:
    """A script's parser, described by its docstring's first line, with the flags every such script takes:
    ``--quick``, ``--docs`` and ``--keep-logs`` (see :func:`docs_target`)."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0] if doc else None)
    page = default_docs.relative_to(REPO) if default_docs.is_relative_to(REPO) else default_docs
    p.add_argument("--quick", action="store_true", help="small sizes, seconds (what the integration tests run)")
    p.add_argument("--docs", type=Path, help=f"markdown to update (default {page}; none with --quick)")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed at exit)")
    return p


def docs_target(quick: bool, given: Path | None, default: Path) -> Path | None:
    """Where a run writes: ``--docs`` if given; a full run defaults to ``default``, a ``--quick`` one to nowhere
    (quick figures are not worth publishing)."""
    if given is not None:
        return given
    return None if quick else default


@contextmanager
def log_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for a run's logs, removed afterwards unless ``keep`` (then its path is printed)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def command(module: str, argv: Sequence[str]) -> str:
    """The command that reproduces a run, as a doc section quotes it."""
    return shlex.join([".venv/bin/python", "-m", module, *argv])


def invocation() -> str:
    """The command that ran this process (``python -m <module> ...`` from the repository), as :func:`command`
    writes it."""
    script = Path(sys.argv[0]).resolve()
    module = ".".join(script.relative_to(REPO).with_suffix("").parts) if script.is_relative_to(REPO) else script.stem
    return command(module, sys.argv[1:])


def revision() -> str:
    """The commit the repository is at, short, with ``+`` when files outside ``docs/`` differ from it (the figures
    are then of code no commit holds); ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        # docs/ aside: a run writes its own figures and charts there before its summary rows.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+" if dirty else "")


def machine() -> str:
    """What ran it, and when: figures mean little without the machine."""
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
