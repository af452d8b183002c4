"""Marked sections of a generated markdown page: ``<!-- kind:name -->`` ... ``<!-- /kind:name -->``.

A script owns its sections and rewrites only those: text outside the markers (prose written by hand, other
scripts' sections) is kept as it is. ``bench/report.py`` (kind ``bench``, docs/performance.md) and
``reliability/report.py`` (kind ``reliability``, docs/reliability.md) write their pages through here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path


class Sections:
    """The sections of one kind of page."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def markers(self, name: str) -> tuple[str, str]:
        return f"<!-- {self.kind}:{name} -->", f"<!-- /{self.kind}:{name} -->"

    def block(self, name: str, body: str) -> str:
        begin, end = self.markers(name)
        return f"{begin}\n{body.strip()}\n{end}"

    def placeholder(self, name: str) -> str:
        """What a new page holds for a section no run has written yet."""
        return self.block(name, f"## {name}\n\nNot run yet.") + "\n"

    def body(self, text: str, name: str) -> str | None:
        """Section ``name``'s text between its markers, or None if ``text`` has no such section."""
        match = self._pattern(name, capture=True).search(text)
        return match.group(1) if match else None

    def replace(self, text: str, name: str, body: str) -> str:
        """``text`` with section ``name`` holding ``body``; a section not there yet is appended at the end."""
        block = self.block(name, body)
        pattern = self._pattern(name)
        # A function, not a replacement string: a body's backslashes (regexes in prose) stay as written.
        return pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"

    def _pattern(self, name: str, capture: bool = False) -> re.Pattern[str]:
        begin, end = self.markers(name)
        return re.compile(re.escape(begin) + ("(.*?)" if capture else ".*?") + re.escape(end), re.S)


def rewrite(path: Path, skeleton: Callable[[], str], edit: Callable[[str], str]) -> None:
    """Apply ``edit`` to the page at ``path``, created from ``skeleton()`` (header, placeholders) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else skeleton()
    path.write_text(edit(text), encoding="utf-8")


def table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table (cells are ``str()``-ed; no escaping: the callers' cells hold no ``|``)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
