"""A conformance run as a report: plain data (``--json``), lines for a terminal, and a markdown page to attach to a
bug report; none of them holds a password, a login number, a server name or an account holder's name.

Checks describe what they saw without the account's values, and :class:`Redactor` replaces any of those values
that still appear anywhere in the report (an error message that names the account, a record's text) before it is
written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mt5_worker.conformance.runner import Outcome, Verdict, passed

_MIN_SECRET = 3  # shorter values would mangle ordinary words and numbers


@dataclass(frozen=True)
class Redactor:
    """Replaces each known secret in a text by what it is: ``[password]``, ``[login]``, ``[server]``, ``[name]``."""

    replacements: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, *, passwords: Iterable[str | None] = (), logins: Iterable[int] = (), servers: Iterable[str] = (),
           names: Iterable[str] = ()) -> Redactor:  # fmt: skip
        pairs = [(p, "[password]") for p in passwords if p] + [(str(n), "[login]") for n in logins]
        pairs += [(s, "[server]") for s in servers] + [(n, "[name]") for n in names]
        kept = {value: label for value, label in pairs if len(value.strip()) >= _MIN_SECRET}
        return cls(tuple(sorted(kept.items(), key=lambda pair: -len(pair[0]))))  # the longest first

    def __call__(self, value: Any) -> Any:
        """``value`` with every secret replaced, in strings at any depth of lists and dicts."""
        if isinstance(value, str):
            for secret, label in self.replacements:
                value = value.replace(secret, label)
            return value
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


def report(outcomes: list[Outcome], about: dict[str, Any], notes: list[str], redact: Redactor) -> dict[str, Any]:
    """The run as plain data (what ``--json`` prints), redacted."""
    counts = Counter(outcome.verdict.value for outcome in outcomes)
    checks = [
        {"name": o.fact.name, "verdict": o.verdict.value, "expects": o.fact.expects, "observed": o.observed,
         "source": o.fact.source, "page": f"docs/{o.fact.page}", "simplification": o.fact.simplification or None,
         "trading": o.fact.trading}
        for o in outcomes
    ]  # fmt: skip
    totals = {verdict.value: counts.get(verdict.value, 0) for verdict in Verdict}
    data = {"tool": "mt5-worker conformance", "passed": passed(outcomes), "about": about, "summary": totals,
            "checks": checks, "notes": notes}  # fmt: skip
    redacted: dict[str, Any] = redact(data)
    return redacted


def line(check: dict[str, Any]) -> str:
    """One check as a line: its verdict, its name, what the terminal did; what was expected where it differs."""
    verdict = check["verdict"]
    shown = verdict.upper() if verdict in (Verdict.DIFFERS.value, Verdict.UNCHECKED.value) else verdict
    head = f"{shown:<27} {check['name']}: "
    if verdict == Verdict.DIFFERS.value:
        return f"{head}expected {check['expects']}; the terminal: {check['observed']}"
    return f"{head}{check['observed']}"


def summary(data: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in data["summary"].items() if n)
    return f"{'passed' if data['passed'] else 'FAILED'}: {counts}"


def text(data: dict[str, Any]) -> str:
    """The whole report as lines: a line per check, the notes, the summary."""
    lines = [line(check) for check in data["checks"]]
    lines += [f"note: {note}" for note in data["notes"]]
    return "\n".join([*lines, summary(data)]) + "\n"


def markdown(data: dict[str, Any]) -> str:
    """The report as a markdown page to attach to a bug report."""
    about = data["about"]
    rows = [f"| {_cell(k)} | {_cell(v)} |" for k, v in about.items()]
    head = ["# mt5-worker conformance report", "", "| | |", "|---|---|", *rows,
            f"| result | {_cell(summary(data))} |", "",
            "Login numbers, server names, account names and passwords are replaced by `[login]`, `[server]`, "
            "`[name]` and `[password]`.", ""]  # fmt: skip
    table = ["## Checks", "", "| check | verdict | the service expects | the terminal did | source |",
             "|---|---|---|---|---|"]  # fmt: skip
    for check in data["checks"]:
        verdict = check["verdict"] if check["verdict"] in ("held", "not run") else f"**{check['verdict']}**"
        table.append(f"| `{check['name']}` ({check['page']}) | {verdict} | {_cell(check['expects'])} | "
                     f"{_cell(check['observed'])} | {_cell(check['source'])} |")  # fmt: skip
    notes = ["", "## Notes", "", *(f"- {_cell(note)}" for note in data["notes"])] if data["notes"] else []
    return "\n".join([*head, *table, *notes]) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
