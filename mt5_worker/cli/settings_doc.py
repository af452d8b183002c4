"""The configuration table of ``docs/configuration.md``, generated from :class:`~mt5_worker.settings.Settings`.

``mt5-worker settings --markdown`` prints it; ``make docs`` (``python -m mt5_worker.cli.settings_doc``) rewrites
the marked region of docs/configuration.md; ``tests/integration/test_settings_doc.py`` fails when that page and
Settings drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mt5_worker.settings import Settings, env_name

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

# Defaults computed from the platform would make the table differ between machines: state the rule instead.
PLATFORM_DEFAULTS = {"bridge_backend": "`metatrader5` on Windows, `simulator` elsewhere"}


def settings_table() -> str:
    """A markdown table: each variable Settings reads, its default, and what it accepts."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = PLATFORM_DEFAULTS.get(name) or _format_default(field)
        description = (field.description or "").replace("|", "\\|").replace("<", "\\<")  # no table breaks, no tags
        rows.append(f"| {_variables(field, name)} | {default} | {description} |")
    return "\n".join(rows) + "\n"


def _variables(field: FieldInfo, name: str) -> str:
    """The variable, and any other name Settings also accepts for it."""
    alias = field.validation_alias
    others = [str(c) for c in alias.choices[1:]] if isinstance(alias, AliasChoices) else []
    return " or ".join(f"`{n}`" for n in [env_name(name), *others])


def _format_default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        value = str(value).lower()  # as written in .env
    elif isinstance(value, dict | list):
        value = json.dumps(value)
    return f"`{value}`"


def render(text: str) -> str:
    """``text`` with the region between the markers replaced by the current table."""
    head, found, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"no {START} ... {END} region to rewrite")
    return f"{head}{START}\n{settings_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the table of docs/configuration.md in place (or of the file given); prints whether it changed."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DOC
    text = path.read_text(encoding="utf-8")
    updated = render(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings table regenerated")
    else:
        print(f"{path}: settings table up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
