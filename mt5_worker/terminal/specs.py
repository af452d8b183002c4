"""What a simulated terminal is made of: its accounts, injected faults and latency profiles.

Value types shared by the simulator, the bridge that hosts one, and the settings that describe them
(``MT5_SIMULATOR_*``). Pure data and validation: reading an accounts file is the only I/O, on request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, ValidationError, field_validator

from mt5_worker.terminal.port import FUNCTIONS

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
    trades: bool = True  # False: no positions, orders or history (else generated: terminal/ledger.py)
    trade_allowed: bool = True  # False: the server refuses every trade request (10017, Trade disabled)
    trade_expert: bool = True  # False: it refuses automated (API) trading (10026, AutoTrading disabled by server)


def load_accounts(path: Path) -> tuple[AccountSpec, ...]:
    """Read a JSON list of accounts; raises ``ValueError`` naming the file and the problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read accounts file {path}: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"accounts file {path} must hold a non-empty JSON list of accounts")
    try:
        accounts = tuple(AccountSpec.model_validate(item) for item in raw)
    except ValidationError as exc:
        # Name the fields, never echo their values: they may be passwords.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"accounts file {path}: {problems}") from None
    keys = [(a.login, a.server) for a in accounts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"accounts file {path} lists the same login and server twice")
    return accounts
