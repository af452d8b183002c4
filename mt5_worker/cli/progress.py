"""Progress of a long operation on the terminal: one line updated in place on a TTY, periodic lines otherwise
(so logs and CI output get a few lines, not hundreds of carriage returns)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(40, "results") as p: p.update(done)`` prints ``results: 12/40``."""

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty()
        self.interval = interval  # seconds between lines when not a TTY
        self._clock = clock
        self._shown: int | None = None
        self._last_line = -float("inf")

    def update(self, done: int) -> None:
        if done == self._shown:
            return
        text = f"{self.label}: {done}/{self.total}"
        if self.tty:
            self.stream.write(f"\r  {text}")
            self.stream.flush()
        elif done >= self.total or self._clock() - self._last_line >= self.interval:
            self.stream.write(f"  {text}\n")
            self.stream.flush()
            self._last_line = self._clock()
        else:
            return  # not shown: keep _shown so the final count still prints
        self._shown = done

    def __enter__(self) -> Progress:
        self.update(0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tty and self._shown is not None:
            self.stream.write("\n")  # leave the in-place line as it ended
            self.stream.flush()
