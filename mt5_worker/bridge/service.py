"""What one authenticated bridge connection can do: call the port's functions, and nothing else.

Classic-mode RPyC would hand the peer this whole process; here the service itself is the allow-list:

- names resolve only through :meth:`BridgeService._rpyc_getattr`: ``exposed_<function>`` for each function of
  the SDK table, plus the ``sim_*`` simulator control when enabled, on a connection whose request handlers are
  cut down to calls and reference counting;
- arguments travel by name and must be plain builtins (a remote reference is refused as an invalid argument),
  and answers are plain tuples ``(result, last_error)``, never references to objects in this process
  (:mod:`~mt5_worker.bridge.codec`);
- one terminal call at a time (the terminal, like the SDK, is single-threaded), each logged as
  ``mt5.bridge.call`` without its password (:class:`~mt5_worker.bridge.core.BridgeCore`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rpyc
from rpyc.core import consts
from rpyc.core.protocol import Connection

from mt5_worker.bridge.codec import Reply
from mt5_worker.bridge.core import BridgeCore, format_address
from mt5_worker.bridge.simulator_control import SimulatorControl
from mt5_worker.terminal.functions import BY_NAME

_ALLOWED_HANDLERS = frozenset(
    {
        consts.HANDLE_PING,
        consts.HANDLE_CLOSE,
        consts.HANDLE_GETROOT,
        consts.HANDLE_GETATTR,
        consts.HANDLE_CALL,
        consts.HANDLE_CALLATTR,
        consts.HANDLE_DEL,
        consts.HANDLE_INSPECT,
        consts.HANDLE_REPR,
        consts.HANDLE_STR,
        consts.HANDLE_HASH,
    }
)


class _BridgeConnection(Connection):  # type: ignore[misc]
    """An RPyC connection that handles only calls, root and reference bookkeeping: no setattr, delattr,
    dir, comparisons, pickling, iteration or context managers on this process's objects."""

    @classmethod
    def _request_handlers(cls) -> dict[int, Any]:
        handlers: dict[int, Any] = super()._request_handlers()
        return {code: handler for code, handler in handlers.items() if code in _ALLOWED_HANDLERS}


class BridgeService(SimulatorControl, rpyc.Service):  # type: ignore[misc]
    """The service one connection sees: the port's functions (plus simulator control when enabled).

    Names resolve only through :meth:`_rpyc_getattr`'s allow-list, never RPyC's default attribute rules.
    """

    _protocol = _BridgeConnection

    def __init__(self, core: BridgeCore) -> None:
        self._core = core
        self._peer = "unknown"

    def on_connect(self, conn: Any) -> None:
        endpoints = conn._config.get("endpoints")
        if endpoints:
            self._peer = format_address(endpoints[1])
        self._core.log.info("mt5.bridge.connected", peer=self._peer)

    def on_disconnect(self, conn: Any) -> None:
        self._core.log.info("mt5.bridge.disconnected", peer=self._peer)

    def _rpyc_getattr(self, name: str) -> Any:
        base = name.removeprefix("exposed_")
        if base not in self._core.allowed:
            raise AttributeError(f"the bridge serves no {name!r}")
        if base in BY_NAME:
            return self._function(base)
        return getattr(self, f"exposed_{base}")

    def _rpyc_setattr(self, name: str, value: Any) -> None:
        raise AttributeError("access denied")

    def _rpyc_delattr(self, name: str) -> None:
        raise AttributeError("access denied")

    def _function(self, function: str) -> Callable[..., Reply]:
        """Port ``function`` as the peer calls it: arguments by name (what the client adapter sends,
        :mod:`~mt5_worker.bridge.codec`), or by position in the port's order."""
        names = [p.name for p in BY_NAME[function].positional]

        def exposed(*args: Any, **kwargs: Any) -> Reply:
            if not args:  # what the client adapter sends: everything by name (kwargs is this call's own dict)
                return self._core.call(self._peer, function, kwargs)
            if len(args) > len(names) or set(names[: len(args)]) & set(kwargs):
                raise TypeError(f"{function}: too many arguments, or one given twice")
            return self._core.call(self._peer, function, dict(zip(names, args, strict=False)) | kwargs)

        return exposed
