"""The settings of this worker process, read once (environment and ``.env``) and passed down from here.

Celery builds the worker from modules it imports by name (``celeryconfig``, the tasks, bootsteps), so their
shared edge is this cached reading rather than a constructor argument.
"""

from __future__ import annotations

from functools import cache

from mt5_worker.settings import Settings


@cache
def worker_settings() -> Settings:
    """This process's settings; a bad variable raises ``SettingsError`` naming it."""
    return Settings.load()
