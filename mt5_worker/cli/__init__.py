"""The ``mt5-worker`` console script and its commands (worker, beat, bridge, call, health, demo, settings)."""

from mt5_worker.cli.main import main, worker_command

__all__ = ["main", "worker_command"]
