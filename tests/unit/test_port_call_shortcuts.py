"""What every bridge call does at both ends, made cheaper (D2 in docs/performance.md) without changing what it
decides: the port methods' arguments for a call by position, and the plain-data check."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest

from mt5_worker.bridge import wire
from mt5_worker.terminal.functions import OMITTED, SPECS, FunctionSpec, port_method


def _recorder(spec: FunctionSpec) -> Any:
    return port_method(spec, lambda _self, _spec, arguments: arguments)


def _bound(spec: FunctionSpec, *args: Any, **kwargs: Any) -> dict[str, Any] | type[TypeError]:
    """What ``bind`` + ``apply_defaults`` give (the method's general path), or ``TypeError``."""
    try:
        bound = spec.signature.bind(object(), *args, **kwargs)
    except TypeError:
        return TypeError
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "self" and v is not OMITTED}


def _called(spec: FunctionSpec, *args: Any, **kwargs: Any) -> dict[str, Any] | type[TypeError]:
    try:
        answer: dict[str, Any] = _recorder(spec)(object(), *args, **kwargs)
    except TypeError:
        return TypeError
    return answer


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_call_by_position_gets_what_bind_gives_in_the_same_order(spec: FunctionSpec) -> None:
    positional = len(spec.positional)
    for count in range(positional + 2):  # one too many as well
        for values in itertools.product(["EURUSD", 7, OMITTED], repeat=count):
            expected = _bound(spec, *values)
            got = _called(spec, *values)
            assert expected == got, (spec.name, values)
            if isinstance(expected, dict) and isinstance(got, dict):
                assert list(expected) == list(got)  # the order the arguments cross in
    if spec.keywords:
        name = spec.keywords[-1]
        assert _bound(spec, **{name: 1}) == _called(spec, **{name: 1})


def test_a_call_by_position_does_not_go_through_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("bound by inspect")

    version = next(spec for spec in SPECS if spec.name == "version")
    symbol_info = next(spec for spec in SPECS if spec.name == "symbol_info")
    version_method, symbol_method = _recorder(version), _recorder(symbol_info)
    monkeypatch.setattr(inspect.Signature, "bind", refuse)
    assert {} == version_method(object())
    assert {"symbol": "EURUSD"} == symbol_method(object(), "EURUSD")


class Netref:
    """Stands for a remote reference: any type but the builtins'."""


SAMPLES: list[object] = [None, True, 0, 1.5, "s", b"raw", (), Netref(), [1], {"a": 1}, bytearray(b"x"),
                         (1, "a", None), (1, (2, (3, b"x"))), (1, (2, [3])), ((), ((),)), (Netref(),),
                         (1, 2.0, Netref()), ((1, "a"), (2, "b")),
                         (True, (False, (None, ("deep", (b"bytes",)))))]  # fmt: skip


def _reference(value: object, *, allow_bytes: bool = False) -> bool:
    """The check as it was written first: every item by ``type()``, recursing into tuples."""
    if type(value) is tuple:
        return all(_reference(item, allow_bytes=allow_bytes) for item in value)
    return type(value) in (wire.REPLY_TYPES if allow_bytes else wire.PLAIN_TYPES)


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__ + repr(v)[:20])
def test_the_plain_data_check_decides_as_it_did(value: object) -> None:
    for allow_bytes in (False, True):
        assert _reference(value, allow_bytes=allow_bytes) == wire.is_plain(value, allow_bytes=allow_bytes)
