"""The Celery worker: the only layer that serves tasks. The app (``celery -A mt5_worker.worker.app``), its
Celery settings, tasks, per-process runtime, batching, message guard, heartbeat, reaper, metrics, redaction
and result backend."""
