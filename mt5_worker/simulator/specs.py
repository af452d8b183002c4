"""What a simulated terminal is made of: its accounts, injected faults and latency profiles.

Value types of the simulator's constructor, and their parsing from what the settings hold (``MT5_SIMULATOR_*``):
the backend chooser (:mod:`mt5_worker.backends`) turns a bad value into a ``SettingsError`` naming the variable.
Pure data and validation: reading an accounts file is the only I/O, on request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, TypeAdapter, ValidationError, field_validator

from mt5_worker.terminal.functions import FUNCTIONS

# Functions that copy many rows: a call costs its latency once, plus once more per BULK_ROWS_PER_LATENCY rows
# (with the realistic 2 ms, 100,000 bars take 0.1 s more), as a larger answer takes longer to cross the pipe.
BULK_FUNCTIONS = ("copy_rates_from", "copy_rates_from_pos", "copy_rates_range", "copy_ticks_from", "copy_ticks_range",
                  "history_orders_get", "history_deals_get")  # fmt: skip
BULK_ROWS_PER_LATENCY = 2000

LATENCY_PROFILES: dict[str, dict[str, float]] = {
    "zero": {},
    "realistic": {"initialize": 2.0, "login": 0.5, "order_send": 0.02}  # order_send: a round trip to the server
    | {name: 0.002 for name in FUNCTIONS if name not in ("initialize", "login", "order_send", "last_error")},
}


# What the simulated terminal can be told to get wrong on purpose (``MT5_SIMULATOR_DEVIATIONS``): each breaks one SDK
# fact that ``mt5-worker conformance`` checks, to prove those checks can fail. Never for anything but tests.
DEVIATIONS: dict[str, str] = {
    "unknown-symbol-code": "symbol_info of an unknown symbol fails with -1 (Call failed) instead of -4 (Not found)",
    "keyword-dates-accepted": "date arguments passed by keyword are accepted instead of refused",
    "tick-range-skips-first-second": "copy_ticks_range leaves out the ticks of date_from's second",
    "comment-cut-from-start": "the trade server keeps only the last 16 characters of a comment",
}
COMMENT_KEPT_WITH_DEVIATION = 16  # what "comment-cut-from-start" keeps of a comment


class FaultSpec(BaseModel):
    """Simulated failures of one function: the first ``fail_first`` calls, then each with probability ``rate``.

    ``after``: the failing call still does what it does (``order_send`` executes the order, ``login`` switches
    the account), then answers as failed, as when the answer is lost on its way back (-10002 IPC recv failed).
    Functions that change nothing fail the same either way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fail_first: int = Field(0, ge=0)
    rate: float = Field(0.0, ge=0.0, le=1.0)
    code: int = Field(-10004, description="the MT5 error code the failing call leaves in last_error()")
    after: bool = Field(
        False, description="the call takes effect first, then fails (order_send executes, login switches)"
    )

    @field_validator("code")
    @classmethod
    def _not_success(cls, code: int) -> int:
        if code == 1:
            raise ValueError("a fault needs an error code, not 1 (success)")
        return code


class AccountSpec(BaseModel):
    """One account the simulator knows (``MT5_SIMULATOR_ACCOUNTS`` file entries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    login: PositiveInt
    password: SecretStr
    server: Annotated[str, Field(min_length=1)]
    name: str = "Simulated Account"
    balance: float = 10_000.0
    equity: float | None = None
    currency: str = "USD"
    leverage: PositiveInt = 100
    company: str = "MetaQuotes Ltd."
    trades: bool = True  # False: no positions, orders or history (else generated: simulator/ledger.py)
    trade_allowed: bool = True  # False: the server refuses every trade request (10017, Trade disabled)
    trade_expert: bool = True  # False: it refuses automated (API) trading (10026, AutoTrading disabled by server)
    trade_mode: int = Field(0, ge=0, le=2)  # account_info().trade_mode: 0 demo, 1 contest, 2 real


def _demo_account(login: int, server: str, name: str, balance: float, currency: str = "USD") -> AccountSpec:
    return AccountSpec(
        login=login, password=f"demo-{login}", server=server, name=name, balance=balance, currency=currency
    )


# The built-in accounts when MT5_SIMULATOR_ACCOUNTS is unset; password is "demo-<login>".
DEMO_ACCOUNTS: tuple[AccountSpec, ...] = (
    _demo_account(10000001, "MetaQuotes-Demo", "Alice Demo", 10_000.0),
    _demo_account(10000002, "MetaQuotes-Demo", "Bob Demo", 25_000.0),
    _demo_account(10000003, "MetaQuotes-Demo", "Carol Demo", 5_000.0, "EUR"),
    _demo_account(10000004, "MetaQuotes-Demo", "Dan Demo", 100_000.0),
    _demo_account(10000005, "MetaQuotes-Demo", "Erin Demo", 750.0, "GBP"),
    _demo_account(20000001, "Simulated-Live", "Frank Live", 50_000.0),
    _demo_account(20000002, "Simulated-Live", "Grace Live", 12_500.0, "EUR"),
    _demo_account(20000003, "Simulated-Live", "Heidi Live", 3_300.0),
)


def load_accounts(path: Path) -> tuple[AccountSpec, ...]:
    """Read a JSON list of accounts; raises ``ValueError`` naming the file and the problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read accounts file {path}: {exc}") from None
    return load_account_data(raw, f"accounts file {path}")


def load_account_data(items: Any, source: str) -> tuple[AccountSpec, ...]:
    """Accounts from plain data (a list of objects, as an accounts file holds); ``ValueError`` naming ``source``
    and the fields at fault, never their values (they may be passwords)."""
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"{source} must hold a non-empty JSON list of accounts")
    try:
        accounts = tuple(AccountSpec.model_validate(item) for item in items)
    except ValidationError as exc:
        raise ValueError(f"{source}: {_problems(exc)}") from None
    keys = [(a.login, a.server) for a in accounts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{source} lists the same login and server twice")
    return accounts


def parse_latency(text: str) -> dict[str, float]:
    """``MT5_SIMULATOR_LATENCY``: a profile's name, or a JSON object of seconds per function."""
    if text in LATENCY_PROFILES:
        return dict(LATENCY_PROFILES[text])
    raw = _json_object(text, f"one of {sorted(LATENCY_PROFILES)} or a JSON object")
    try:
        latency = _LATENCIES.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    _known_functions(latency)
    if any(v < 0 for v in latency.values()):
        raise ValueError("latencies must be >= 0 seconds")
    return latency


def parse_faults(text: str) -> dict[str, FaultSpec]:
    """``MT5_SIMULATOR_FAULTS``: a JSON object, function -> :class:`FaultSpec` fields."""
    raw = _json_object(text, "a JSON object")
    try:
        faults = _FAULTS.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    _known_functions(faults)
    return faults


def parse_deviations(names: Iterable[str]) -> frozenset[str]:
    """``MT5_SIMULATOR_DEVIATIONS``: names of :data:`DEVIATIONS`."""
    chosen = frozenset(names)
    unknown = sorted(chosen - set(DEVIATIONS))
    if unknown:
        raise ValueError(f"unknown deviation(s) {unknown}; expected some of {list(DEVIATIONS)}")
    return chosen


_LATENCIES = TypeAdapter(dict[str, float])
_FAULTS = TypeAdapter(dict[str, FaultSpec])


def _known_functions(value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown function(s) {unknown}; expected some of {list(FUNCTIONS)}")


def _json_object(text: str, expected: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected {expected}; not valid JSON ({exc.msg} at char {exc.pos})") from None


def _problems(exc: ValidationError) -> str:
    # The fields and what is wrong with them, never the values: they may be passwords.
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
