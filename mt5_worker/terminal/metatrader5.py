"""The real terminal: a thin adapter over the ``MetaTrader5`` module (Windows only, imported lazily).

Its port functions are made from the SDK table (:mod:`mt5_worker.terminal.functions`): arguments go to the SDK
exactly as its pages show them, positional where they say "unnamed", optional ones only when set (how its parser
treats ``None`` is undocumented); results are rebuilt as this package's named tuples by field name (the SDK's
compiled struct sequences cannot be pickled by module path, so they must not leak into Celery results or across
the bridge, and a newer SDK that adds fields must not break the adapter). Bars and ticks stay numpy structured
arrays, as the SDK returns them.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, ClassVar

from mt5_worker.errors import SettingsError
from mt5_worker.terminal.functions import REQUIRED, FunctionSpec, install_port_methods

UNAVAILABLE = (
    "MT5_BACKEND=metatrader5 needs the MetaTrader5 package, which exists only for Windows "
    "(pip install 'mt5-worker[metatrader5]' on the terminal's Windows host). On {platform}, use "
    "MT5_BACKEND=simulator, or MT5_BACKEND=bridge with `mt5-worker bridge` running beside the terminal."
)


def load_module() -> ModuleType:
    """Import ``MetaTrader5`` or stop start-up with a message saying what to use instead."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise SettingsError(UNAVAILABLE.format(platform=sys.platform)) from None


class MetaTrader5Terminal:
    """The :class:`~mt5_worker.terminal.port.Terminal` port over the real SDK module."""

    backend: ClassVar[str] = "metatrader5"

    def __init__(self, module: ModuleType | None = None) -> None:
        self._mt5: Any = module if module is not None else load_module()

    @property
    def module(self) -> Any:
        """The ``MetaTrader5`` module itself: its functions take arguments the port cannot pass (keywords for
        unnamed parameters), which is how ``mt5-worker conformance`` checks that the SDK refuses them."""
        return self._mt5

    def shutdown(self) -> bool:
        self._mt5.shutdown()  # answers None (its page), whatever happened: the connection is closed either way
        return True

    def last_error(self) -> tuple[int, str]:
        code, message = self._mt5.last_error()
        return (int(code), str(message))

    def _call(self, spec: FunctionSpec, arguments: dict[str, Any]) -> Any:
        args, kwargs = [], {}
        for param in spec.params:
            value = arguments.get(param.name)
            if value is None and param.default is not REQUIRED:  # optional and not set: left out
                continue
            if param.sdk_positional:
                args.append(value)
            else:
                kwargs[param.name] = value
        return rebuild(spec, getattr(self._mt5, spec.name)(*args, **kwargs))


install_port_methods(MetaTrader5Terminal, MetaTrader5Terminal._call)


def rebuild(spec: FunctionSpec, value: Any) -> Any:
    """The SDK's answer as the port's: records as this package's named tuples, numbers as Python's."""
    returns = spec.returns
    if returns.kind == "bool":
        return bool(value)
    if value is None:
        return None
    if returns.kind == "array":
        import numpy as np

        return np.asarray(value)
    if returns.kind == "int":
        return int(value)
    if returns.kind == "float":
        return float(value)
    if returns.kind == "version":
        return (int(value[0]), int(value[1]), str(value[2]))
    record: Any = returns.record
    if returns.kind == "records":
        return tuple(_record(record, item) for item in value)
    fields = _fields(value, record._fields)
    if returns.nested is not None:  # the request it answers, the last field, is a struct sequence too
        last = record._fields[-1]
        fields[last] = _record(returns.nested, fields[last])
    return record(**fields)


def _record(record: Any, value: Any) -> Any:
    return record(**_fields(value, record._fields))


def _fields(info: Any, names: tuple[str, ...]) -> dict[str, Any]:
    # Take our fields by name, so a newer SDK that adds fields does not break the adapter.
    values = info._asdict()
    return {name: values[name] for name in names}
