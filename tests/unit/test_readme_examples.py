"""The README's Python API examples run on the simulator, and its two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

README = (ROOT / "README.md").read_text()

API_DOC = (ROOT / "docs" / "api.md").read_text()


def python_blocks(after_heading: str, text: str = README) -> list[str]:
    section = text.split(after_heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_python_api_examples_run_on_the_simulator() -> None:
    """The two examples of docs/api.md's MT5ConnectionManager section, in this process."""
    manager_example, acquire_example = python_blocks("## MT5ConnectionManager", API_DOC)
    namespace: dict[str, object] = {}
    exec(manager_example, namespace)
    namespace["manager"].login(10000001, "demo-10000001", "MetaQuotes-Demo")  # type: ignore[attr-defined]
    exec(acquire_example, namespace)
    assert (500, 4755, "20 Nov 2026") == namespace["version"]
    assert 10000001 == namespace["info"].login  # type: ignore[attr-defined]


def test_the_two_set_up_commands_are_make_demo_and_make_test() -> None:
    setup = README.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)
    assert ["make demo", "make test"] == [line.split("#")[0].strip() for line in block.strip().splitlines()]
