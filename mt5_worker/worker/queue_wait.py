"""How long a task message waited: from its publish (a header the publisher stamps) to the start of its task.

Celery's task messages carry no publish time, so publishers add one: ``MT5Client`` (and ``AsyncMT5Client``) stamp
each message with the header ``mt5_published_at`` (Unix seconds, a number); a plain Celery client can pass the
same header (``send_task(..., headers={"mt5_published_at": time.time()})``). A retry's message keeps its first
stamp and carries its countdown's ETA: its wait counts from the ETA. Messages without the stamp (beat's sweeps,
clients that do not set it) have no queue wait. The clocks of publisher and worker must agree: a wait that comes
out negative (the publisher's clock ahead) counts as zero.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

PUBLISHED_HEADER = "mt5_published_at"


def published_stamp(now: float | None = None) -> dict[str, float]:
    """The header to add to a task message so the worker can measure its queue wait."""
    return {PUBLISHED_HEADER: time.time() if now is None else now}


def queue_wait(request: Any, now: float) -> float | None:
    """Seconds ``request`` (a task's ``self.request``) waited: from its publish, or its ETA if later, to ``now``;
    ``None`` when it was not stamped."""
    headers = getattr(request, "headers", None) or {}
    published = getattr(request, PUBLISHED_HEADER, None) or headers.get(PUBLISHED_HEADER)
    if not isinstance(published, int | float) or isinstance(published, bool):
        return None
    since = float(published)
    eta = _timestamp(getattr(request, "eta", None))
    if eta is not None:
        since = max(since, eta)
    return max(0.0, now - since)


def _timestamp(value: Any) -> float | None:
    """Unix time of an ETA as Celery passes it (an ISO 8601 string, or a datetime); naive means UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
