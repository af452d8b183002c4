"""Each documentation page's list of the facts ``mt5-worker conformance`` checks, generated from the table
(:data:`~mt5_worker.conformance.facts.FACTS`).

``make docs`` (``python -m mt5_worker.conformance.doc_tables``) rewrites the marked region of every page the table
names; ``tests/unit/test_conformance_docs.py`` fails when a region and the table drift, and when the prose of a
page and the table disagree (a check named that does not exist, a fact not named on its page, an unverified fact
without its check).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mt5_worker.conformance.facts import FACTS, PAGES, Fact

START = "<!-- conformance-facts:start -->"
END = "<!-- conformance-facts:end -->"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def facts_table(page: str) -> str:
    """The markdown table of the facts ``page`` states, in the order the checks run."""
    rows = ["| check | the service expects | source | runs |", "|---|---|---|---|"]
    for fact in FACTS:
        if fact.page == page:
            expects = fact.expects + (f" (the simulator: {fact.simplification})" if fact.simplification else "")
            rows.append(f"| `{fact.name}` | {_cell(expects)} | {_cell(fact.source)} | {_runs(fact)} |")
    return "\n".join(rows) + "\n"


def _runs(fact: Fact) -> str:
    if fact.needs:
        where = "beside the terminal (not through the bridge)"
        return f"`--trading`, {where}" if fact.trading else where
    return "`--trading`" if fact.trading else "always"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(text: str, page: str) -> str:
    """``text`` with the region between the markers replaced by the page's current table."""
    head, found, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"docs/{page}: no {START} ... {END} region to rewrite")
    return f"{head}{START}\n{facts_table(page)}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the table of every page (in ``argv[0]``, a docs directory, if given); print which changed."""
    args = sys.argv[1:] if argv is None else argv
    docs = Path(args[0]) if args else DOCS
    for page in PAGES:
        path = docs / page
        text = path.read_text(encoding="utf-8")
        updated = render(text, page)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
        print(f"{path}: conformance facts {'regenerated' if updated != text else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
