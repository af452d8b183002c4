"""The Prometheus rules shipped in monitoring/prometheus/rules: valid (``promtool check rules``), and every alert
unit-tested firing and silent (``promtool test rules``). promtool is Debian's ``prometheus`` package; without it
these tests skip saying so, and fail under ``CI=true`` (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration  # runs promtool
RULES_DIR = ROOT / "monitoring" / "prometheus" / "rules"
RULES = RULES_DIR / "mt5-worker.rules.yml"
RULE_TESTS = RULES_DIR / "mt5-worker.rules.test.yml"
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (Debian: apt-get install prometheus); under CI=true this fails"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def alerts() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name], cwd=RULES_DIR, capture_output=True, text=True, timeout=60
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent_and_documented() -> None:
    tested: dict[str, set[str]] = {}
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            tested.setdefault(case["alertname"], set()).add("firing" if case.get("exp_alerts") else "silent")
    names = alerts()
    assert len(names) >= 10 and len(set(names)) == len(names)
    for name in names:
        assert {"firing", "silent"} == tested.get(name), f"{name}: tested {tested.get(name)}"
        assert f"`{name}`" in OPERATIONS, f"{name} is not in docs/operations.md's alert list"
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert {"summary", "description"} <= set(rule["annotations"])


def test_rules_aggregate_by_bounded_labels_only() -> None:
    """Bounded cardinality: rules group and match by job, instance, task, outcome, code, state, server, symbol and
    le, never by an account or a task id."""
    allowed = {"job", "instance", "task", "outcome", "code", "state", "server", "symbol", "le"}
    for rule in rules():
        for labels in re.findall(r"\b(?:by|on|without|ignoring) \(([^)]*)\)", rule["expr"]):
            used = {label.strip() for label in labels.split(",")}
            assert used <= allowed, (rule.get("alert") or rule.get("record"), used - allowed)
