"""What the workers of a fleet share in Redis, without Celery: connections, the session store, the worker
registry, and account-affinity routing."""
