"""Celery's settings module (``app.config_from_object("celeryconfig")`` in ``mt5_worker.worker.app``).

The process's settings (environment / ``.env``, read once) turned into Celery's by
:func:`mt5_worker.worker.celery_config.celery_config`. Imported lazily, when Celery first reads its
configuration; opens no connection. A bad variable stops the worker at start-up with a message naming it.
"""

from mt5_worker.worker.celery_config import EVICT_ROUTE, celery_config
from mt5_worker.worker.settings import worker_settings

__all__ = ["EVICT_ROUTE"]

globals().update(celery_config(worker_settings()))
