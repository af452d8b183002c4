"""Checks of the connection side: ``version``, the account's and the terminal's records, the error slot, a
connection restarted (docs/sdk-notes.md). Each takes a :class:`~mt5_worker.conformance.context.Context` and answers
an :class:`~mt5_worker.conformance.context.Observation`."""

from __future__ import annotations

import re
from typing import Any, get_type_hints

from mt5_worker.codes import RES_E_INTERNAL_FAIL_CONNECT, SUCCESS
from mt5_worker.conformance.context import UNKNOWN_SYMBOL, Context, Observation, describe, differs, judged, unchecked
from mt5_worker.terminal import constants as c
from mt5_worker.terminal.records import AccountInfo, TerminalInfo

_NO_IPC = "No IPC connection"


def version_shape(ctx: Context) -> Observation:
    version = ctx.terminal.version()
    ok = (
        isinstance(version, tuple)
        and len(version) == 3
        and version[0] == 500
        and type(version[1]) is int
        and isinstance(version[2], str)
        and re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", version[2]) is not None
    )
    return judged(ok, f"version() -> {version!r}")


def account_info_fields(ctx: Context) -> Observation:
    return record_fields(ctx, "account_info", AccountInfo, lambda sdk: sdk.account_info())


def terminal_info_fields(ctx: Context) -> Observation:
    return record_fields(ctx, "terminal_info", TerminalInfo, lambda sdk: sdk.terminal_info())


def record_fields(ctx: Context, label: str, record: Any, read: Any) -> Observation:
    """Compare one answer's fields with ``record``'s: names, order, each value's type. The SDK's own record where this
    process holds the module (it may have fields the adapter drops), else the port's."""
    source = ctx.sdk if ctx.sdk is not None else ctx.terminal
    value = read(source)
    if value is None:
        return differs(ctx.answer(f"{label}()", value))
    problems = field_problems(value, record)
    what = f"{label}(): {type(value).__name__}, {len(value._asdict())} fields"
    verdict = "; ".join(problems) if problems else "names, order and types as expected"
    return judged(not problems, f"{what}: {verdict}")


def field_problems(value: Any, record: Any) -> list[str]:
    """How a record answered by the terminal differs from ``record`` (a named tuple of the port): missing or
    reordered fields, values of another type. Fields the port does not know are not problems (the adapters take
    fields by name and drop the others): they are named only beside a real problem."""
    fields = value._asdict()
    expected: tuple[str, ...] = record._fields
    problems = []
    missing = [name for name in expected if name not in fields]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    known = [name for name in fields if name in expected]
    if known != [name for name in expected if name in fields]:
        problems.append(f"another order: {', '.join(known)}")
    types = get_type_hints(record)
    wrong = [
        f"{name} is {type(fields[name]).__name__}, not {types[name].__name__}"
        for name in known
        if type(fields[name]) is not types[name]
    ]
    if wrong:
        problems.append("types: " + ", ".join(wrong))
    extra = [name for name in fields if name not in expected]
    if problems and extra:
        problems.append(f"fields the port does not use: {', '.join(extra)}")
    return problems


def error_slot_reset(ctx: Context) -> Observation:
    failed = ctx.terminal.symbol_info(UNKNOWN_SYMBOL)
    first = ctx.error()
    version = ctx.terminal.version()
    after = ctx.error()
    ok = failed is None and first != SUCCESS and version is not None and after == SUCCESS
    return judged(ok, f"a failing symbol_info left {first}; the version() after it left {after}")


def no_connection(ctx: Context) -> Observation:
    """After ``shutdown()``, the connection functions and ``symbols_total`` answer ``None`` with -10004."""
    ctx.terminal.shutdown()
    seen = {}
    for name in ("account_info", "terminal_info", "version", "symbols_total"):
        value = getattr(ctx.terminal, name)()
        seen[name] = (value, ctx.error())
    reconnected = ctx.reconnect() and ctx.login_again()
    ok = all(value is None and error == (RES_E_INTERNAL_FAIL_CONNECT, _NO_IPC) for value, error in seen.values())
    observed = "after shutdown(): " + "; ".join(f"{n}() -> {describe(v)}, {e}" for n, (v, e) in seen.items())
    if not reconnected:
        return differs(f"{observed}; then initialize() and login() failed: {ctx.error()}")
    return judged(ok, observed)


def restart_on_last_account(ctx: Context) -> Observation:
    """``initialize()`` without an account after ``shutdown()`` attaches to the terminal's last account."""
    ctx.terminal.shutdown()
    if not ctx.reconnect():
        return differs(f"initialize() after shutdown() -> False, {ctx.error()}")
    info = ctx.terminal.account_info()
    on_it = info is not None and info.login == ctx.account.login
    observed = "initialize() after shutdown() -> True; account_info() -> " + (
        "the same account" if on_it else f"{describe(info)}, {ctx.error()}"
    )
    if not ctx.login_again():
        return differs(f"{observed}; login() again failed: {ctx.error()}")
    return judged(on_it, observed)


def sdk_constants(ctx: Context) -> Observation:
    """Every enumeration the port names has the module's value, where the module exports it."""
    assert ctx.module is not None
    names = [name for name in dir(c) if name.isupper()]
    exported = [name for name in names if hasattr(ctx.module, name)]
    module = ctx.module
    other = [
        f"{n} = {getattr(module, n)!r}, not {getattr(c, n)!r}" for n in exported if getattr(module, n) != getattr(c, n)
    ]
    absent = sorted({name.rsplit("_", 1)[0] + "_*" for name in names if name not in exported})
    observed = f"{len(exported)} of the port's {len(names)} constants exported by the module"
    observed += f" (not exported: {', '.join(absent)})" if absent else ""
    if not exported:
        return unchecked("the module exports none of the port's constants: is it the MetaTrader5 module?")
    return judged(not other, observed + (": " + "; ".join(other) if other else ", each with the port's value"))
