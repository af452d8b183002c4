"""One terminal, served safely: the connection manager, its session pool, fair lock, retry policy, request
validation and the snapshots it hands out. No Celery, no Redis: those live above (``fleet``, ``worker``)."""

from mt5_worker.manager.connection_manager import CallHook, MT5ConnectionManager, TerminalState

__all__ = ["CallHook", "MT5ConnectionManager", "TerminalState"]
