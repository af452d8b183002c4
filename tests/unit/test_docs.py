"""The README stays a short entry page, and no relative link in it or in docs/ points at nothing."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.M)


def relative_links(text: str) -> list[str]:
    """Targets of the page's markdown links and images that are not URLs, outside code blocks."""
    prose = FENCE.sub("", text)
    return [t for t in LINK.findall(prose) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def anchors(text: str) -> set[str]:
    """The fragment GitHub gives each heading: lower case, punctuation dropped, spaces as hyphens, numbered repeats."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_readme_is_at_most_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= 12 * 1024, f"README.md is {size} bytes: move detail into docs/ and link it"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path, _, fragment = unquote(target).partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no such heading")
    assert [] == broken


def test_the_link_check_sees_links_images_and_anchors() -> None:
    text = "[a](docs/x.md#b) ![p](p.png) [u](https://example.com) [s](#here)\n```\n[no](code.md)\n```\n"
    assert ["docs/x.md#b", "p.png", "#here"] == relative_links(text)
    assert {"from-the-shell-mt5-worker-call", "logs", "logs-1"} == anchors(
        "## From the shell: `mt5-worker call`\n### Logs\n## Logs\n"
    )


@pytest.mark.parametrize("page", [*PAGES, ROOT / "bench" / "README.md"], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_path_a_page_names_exists(page: Path) -> None:
    """A path in backquotes (``simulator/ledger.py``, ``tests/unit/``), from the repository or the package: when a
    module moves, the pages that name it must follow."""
    named = re.findall(r"`([A-Za-z0-9_./-]+(?:\.py|\.sh|/))`", page.read_text(encoding="utf-8"))
    missing = [p for p in named if "/" in p and not any((base / p).exists() for base in (ROOT, ROOT / "mt5_worker"))]
    assert [] == missing
