"""What every connection to the bridge shares: the terminal, the one-call-at-a-time lock, the log, and the running
of one port function for a peer (arguments checked plain, answer made plain, and an ``mt5.bridge.call`` line for
each failed call, and for every call at ``MT5_LOG_LEVEL=DEBUG``: the worker's manager already logs every SDK call,
and a line per successful call was the largest part of a bridge call's cost).

The service (:mod:`~mt5_worker.bridge.service`) and its simulator control (:mod:`~mt5_worker.bridge.simulator_control`)
both use it; neither knows the other's internals.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from mt5_worker.bridge.codec import NotPlain, Reply, decode_arguments, encode_result
from mt5_worker.codes import RES_E_FAIL, RES_E_INVALID_PARAMS, SUCCESS, error_tuple
from mt5_worker.logging import get_logger
from mt5_worker.settings import Settings
from mt5_worker.terminal.functions import BY_NAME, FUNCTIONS, FunctionSpec
from mt5_worker.terminal.port import Terminal


class BridgeCore:
    """The terminal, its lock and the log, shared by every connection. ``allowed``: the names a peer may call."""

    def __init__(
        self, terminal: Terminal, settings: Settings, *, allow_simulator_control: bool, control: tuple[str, ...] = ()
    ) -> None:
        self.terminal = terminal
        self.settings = settings
        self.lock = threading.Lock()
        self.allowed = frozenset(FUNCTIONS) | (frozenset(control) if allow_simulator_control else frozenset())
        self.log = get_logger("mt5_worker.bridge").bind(backend=getattr(terminal, "backend", "?"))
        self.log_every_call = settings.log_level == "DEBUG"  # decided once: the check costs on every call

    def call(self, peer: str, function: str, arguments: dict[str, Any]) -> Reply:
        """Run one port function under the lock; ``(plain result, last_error)``, logged without the password."""
        spec = BY_NAME[function]
        started = time.perf_counter()
        waited = 0.0
        try:
            args, kwargs = decode_arguments(spec, arguments)
        except NotPlain as bad:
            result: Any = spec.returns.failure
            error = error_tuple(RES_E_INVALID_PARAMS, f'Invalid "{bad.name}" argument')
        else:
            with self.lock:
                waited = time.perf_counter() - started
                result, error = self._run(spec, args, kwargs)
        ok = result is not None and result is not False
        if ok and not self.log_every_call:
            return result, error
        login, server = arguments.get("login"), arguments.get("server")
        self.log.log(
            logging.DEBUG if ok else logging.WARNING,
            "mt5.bridge.call",
            function=function,
            login=login if type(login) is int else None,
            server=server if type(server) is str else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            wait_ms=round(waited * 1000, 3),
            ok=ok,
            mt5_code=error[0],
            mt5_message=error[1],
            peer=peer,
        )
        return result, error

    def _run(self, spec: FunctionSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Reply:
        try:
            result = getattr(self.terminal, spec.name)(*args, **kwargs)
            if spec.returns.kind == "error":  # last_error: the answer is the error
                error = (int(result[0]), str(result[1]))
                return error, error
            ok = result is not None and result is not False
            error = SUCCESS if ok else self.terminal.last_error()
            value = encode_result(spec, result)
        except Exception as exc:  # an adapter bug: the caller sees a failed call, the log has the trace
            self.log.exception("mt5.bridge.adapter_error", function=spec.name, error=type(exc).__name__)
            return None, error_tuple(RES_E_FAIL, f"Terminal: Call failed (bridge: {type(exc).__name__})")
        return value, (int(error[0]), str(error[1]))


def format_address(address: Any) -> str:
    """A peer address as ``host:port`` for the log."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
