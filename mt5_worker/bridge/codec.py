"""What crosses the bridge for each port function, both ways, derived from the SDK table
(:mod:`mt5_worker.terminal.functions`): one rule per kind of parameter and of result, never one per function.

- **Arguments** travel by name, as plain builtins: a ``Date`` as epoch seconds (the client converts a ``datetime``
  with ``timestamp()``, in its own time zone), a trade request as ``(key, value)`` pairs. The server puts them
  back in the port's order: positional parameters by position while they come in order, the rest by name (an
  unknown name reaches the terminal, which refuses it as the SDK does).
- **Answers** are ``(value, last_error)``: records as plain tuples (the request an ``order_check``/``order_send``
  result ends with as a nested tuple), tuples of records as tuples of tuples, bars and ticks as
  :func:`~mt5_worker.bridge.wire.encode_array`'s plain data with the port's exact columns.

The client accepts only an answer of the function's exact shape; anything else is a :class:`BridgeProtocolError`,
which it treats like a broken pipe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from mt5_worker.bridge.wire import PLAIN_TYPES, decode_array, encode_array, is_plain
from mt5_worker.terminal.arrays import DTYPES
from mt5_worker.terminal.functions import KEYWORD, FunctionSpec

REQUEST = "dict[str, object]"  # the type of a trade request parameter in the SDK table
Reply = tuple[Any, tuple[int, str]]


class BridgeProtocolError(Exception):
    """The bridge answered something other than plain data of the expected shape."""


class NotPlain(ValueError):
    """An argument that is not plain data (a remote reference, a container): the call is refused."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


# --- the client's side ----------------------------------------------------------------------------------


_CONVERTED = ("Date", REQUEST)


def encode_arguments(spec: FunctionSpec, arguments: dict[str, Any]) -> dict[str, object]:
    """A call's arguments, by name, as they cross: dates as epoch seconds, a request as pairs."""
    types = spec.param_types
    if not any(types.get(name) in _CONVERTED for name in arguments):  # nothing to convert: most calls
        return dict(arguments)
    out: dict[str, object] = {}
    for name, value in arguments.items():
        if types.get(name) == "Date" and isinstance(value, datetime):
            value = int(value.timestamp())
        elif types.get(name) == REQUEST and isinstance(value, dict):
            value = tuple(value.items())
        out[name] = value
    return out


def decode_reply(spec: FunctionSpec, reply: object) -> Reply:
    """``(value, last_error)`` from the bridge, checked and rebuilt as the port's records (arrays decoded)."""
    if not is_plain(reply, allow_bytes=True) or not isinstance(reply, tuple) or len(reply) != 2:
        raise BridgeProtocolError(f"{spec.name}: the bridge answered something other than plain data")
    value, error = reply
    if not (isinstance(error, tuple) and len(error) == 2 and type(error[0]) is int and type(error[1]) is str):
        raise BridgeProtocolError(f"{spec.name}: malformed last_error from the bridge")
    if value is not None and spec.returns.kind == "array":
        assert spec.returns.array is not None
        try:
            return decode_array(value, DTYPES[spec.returns.array]), (error[0], error[1])
        except ValueError as exc:
            raise BridgeProtocolError(f"{spec.name}: {exc}") from None
    if type(value) is bytes or not (value is None or _shaped(spec, value)):
        raise BridgeProtocolError(f"{spec.name}: unexpected result shape from the bridge")
    return _rebuilt(spec, value), (error[0], error[1])


def _shaped(spec: FunctionSpec, value: object) -> bool:
    returns = spec.returns
    kind = returns.kind
    if kind in ("bool", "int", "float"):
        return type(value) is {"bool": bool, "int": int, "float": float}[kind]
    if kind in ("version", "error"):
        return type(value) is tuple and len(value) == (3 if kind == "version" else 2)
    if kind == "array":
        return False  # only None gets here: a value was decoded above
    assert returns.record is not None
    size = len(returns.record._fields)
    if kind == "records":
        return type(value) is tuple and all(type(row) is tuple and len(row) == size for row in value)
    if type(value) is not tuple or len(value) != size:
        return False
    return returns.nested is None or (type(value[-1]) is tuple and len(value[-1]) == len(returns.nested._fields))


def _rebuilt(spec: FunctionSpec, value: Any) -> Any:
    returns = spec.returns
    if value is None or returns.record is None:
        return value
    if returns.kind == "records":
        return tuple(returns.record(*row) for row in value)
    if returns.nested is not None:
        return returns.record._make((*value[:-1], returns.nested(*value[-1])))
    return returns.record(*value)


# --- the server's side ----------------------------------------------------------------------------------


def decode_arguments(spec: FunctionSpec, arguments: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The terminal's ``(args, kwargs)`` for a call that crossed; :class:`NotPlain` names an argument that is not
    plain data."""
    types = spec.param_types
    for name, value in arguments.items():
        if not _plain_argument(types.get(name), value):
            raise NotPlain(name)
    rest = dict(arguments)
    args: list[Any] = []
    for param in spec.params:
        if param.kind is KEYWORD or param.name not in rest:
            break
        value = rest.pop(param.name)
        args.append(dict(value) if param.type == REQUEST and type(value) is tuple else value)
    return tuple(args), rest


def encode_result(spec: FunctionSpec, result: Any) -> object:
    """The terminal's answer as plain data of the function's shape; ``TypeError`` if it holds anything else."""
    returns = spec.returns
    value: object
    if returns.kind == "bool":
        value = bool(result)
    elif result is None:
        value = None
    elif returns.kind == "array":
        assert returns.array is not None
        value = encode_array(_as_dtype(result, DTYPES[returns.array]))
    elif returns.kind in ("int", "float"):
        value = int(result) if returns.kind == "int" else float(result)
    elif returns.kind == "records":
        value = tuple(tuple(record) for record in result)
    elif returns.nested is not None:
        value = (*tuple(result)[:-1], tuple(result[-1]))
    else:  # a record, the version, an error tuple
        value = tuple(result)
    if not is_plain(value, allow_bytes=True):
        raise TypeError(f"{spec.name} returned values that are not plain data")
    return value


def _as_dtype(array: Any, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """The SDK's array with exactly the port's columns, taken by name (a newer SDK may add or reorder some)."""
    rows = np.asarray(array)
    out = np.zeros(len(rows), dtype=dtype)
    for name in dtype.names or ():
        out[name] = rows[name]
    return out


def _plain_argument(type_: str | None, value: Any) -> bool:
    """A builtin scalar; a trade request may also be a tuple of ``(key, scalar)`` pairs."""
    if type_ == REQUEST and type(value) is tuple:
        return all(type(v) is tuple and len(v) == 2 and type(v[0]) is str for v in value) and is_plain(value)
    return type(value) in PLAIN_TYPES
