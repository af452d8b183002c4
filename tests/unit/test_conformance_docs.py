"""The SDK facts are documented where they are checked, and checked where they are documented: each page's list of
checks is generated from the table (``mt5_worker/conformance/facts.py``); every check a page names exists and every
fact is named in its page's prose; every fact a page marks **unverified** names its check, or says why it has none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mt5_worker.conformance.doc_tables import END, START, facts_table, render
from mt5_worker.conformance.facts import BY_NAME, FACTS, PAGES
from mt5_worker.simulator.specs import DEVIATIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = re.compile(r"check:\s+`([a-z0-9-]+)`")
UNVERIFIED = "**unverified**"
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def prose(text: str) -> str:
    """A page without its generated list and its code blocks."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return FENCE.sub("", head + tail)


def blocks(text: str) -> list[str]:
    """A page's units of prose: each table row, each list item (with its wrapped lines), each paragraph."""
    found: list[list[str]] = []
    for line in text.splitlines():
        starts = line.startswith(("|", "- ", "* ", "#", "1. ")) or not line.strip()
        if starts or not found or (found[-1] and found[-1][0].startswith("|")):
            found.append([])
        if line.strip():
            found[-1].append(line)
    return ["\n".join(lines) for lines in found if lines]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_lists_its_checked_facts_as_generated_from_the_table(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert render(text, page) == text, f"docs/{page} is stale: run `make docs`"
    assert all(f"`{fact.name}`" in facts_table(page) for fact in FACTS if fact.page == page)


def test_every_check_a_page_names_exists() -> None:
    named = {(path.name, name) for path in [ROOT / "README.md", *DOCS.glob("*.md")]
             for name in REFERENCE.findall(path.read_text(encoding="utf-8"))}  # fmt: skip
    assert [] == sorted((page, name) for page, name in named if name not in BY_NAME)


@pytest.mark.parametrize("page", PAGES)
def test_every_fact_is_named_in_its_pages_prose(page: str) -> None:
    named = set(REFERENCE.findall(prose((DOCS / page).read_text(encoding="utf-8"))))
    assert [] == [fact.name for fact in FACTS if fact.page == page and fact.name not in named]


@pytest.mark.parametrize("page", PAGES)
def test_every_unverified_fact_names_its_check_or_why_it_has_none(page: str) -> None:
    """A block (a table row, a list item, a paragraph) that marks a fact unverified names the check that verifies
    it, says ``not checked:`` and why, or explains the convention (it names ``mt5-worker conformance``)."""
    flat = [" ".join(block.split()) for block in blocks(prose((DOCS / page).read_text(encoding="utf-8")))]
    unchecked = [
        block[:100]
        for block in flat
        if UNVERIFIED in block
        and not REFERENCE.search(block)
        and "not checked:" not in block
        and "mt5-worker conformance" not in block
    ]
    assert [] == unchecked


def test_the_rule_sees_rows_items_and_paragraphs() -> None:  # the test above can fail: these would
    page = "| a | **unverified** |\n| b | x (check: `no-connection`) |\n- c **unverified**\n  wrapped\n\npara\n"
    assert ["| a | **unverified** |", "| b | x (check: `no-connection`) |", "- c **unverified**\n  wrapped",
            "para"] == blocks(page)  # fmt: skip


def test_every_deviation_of_the_simulator_is_documented() -> None:
    configuration = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert [] == [name for name in DEVIATIONS if f"`{name}`" not in configuration]
