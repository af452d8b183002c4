"""Progress of long operations (cli/progress.py): in place on a TTY, periodic lines otherwise."""

from __future__ import annotations

import io

from mt5_worker.cli.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_prints_periodic_lines_when_not_a_tty() -> None:
    now = [0.0]
    stream = io.StringIO()
    with Progress(100, "results", stream, interval=2.0, clock=lambda: now[0]) as progress:
        for done in range(1, 101):
            now[0] += 0.1  # 10 s in all: a line every 2 s, and the final count
            progress.update(done)
    lines = stream.getvalue().splitlines()
    assert "  results: 0/100" == lines[0] and "  results: 100/100" == lines[-1]
    assert 5 <= len(lines) <= 8 and "\r" not in stream.getvalue()


def test_progress_updates_one_line_in_place_on_a_tty() -> None:
    stream = _Terminal()
    with Progress(3, "results", stream) as progress:
        for done in (1, 2, 2, 3):
            progress.update(done)
    assert "\r  results: 0/3\r  results: 1/3\r  results: 2/3\r  results: 3/3\n" == stream.getvalue()
