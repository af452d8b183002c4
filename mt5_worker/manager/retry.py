"""The retry schedule as a value object, used wherever retries happen.

The manager applies it in-process (``initialize``, sleeping between attempts); the Celery layer turns it
into autoretry options so a retried login waits in the broker, not in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mt5_worker.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` retries after exponential waits: ``backoff``, ``2*backoff``, ... capped at ``backoff_max``."""

    retries: int = 3
    backoff: int = 1
    backoff_max: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.retry_limit, settings.retry_backoff, settings.retry_backoff_max)

    @property
    def attempts(self) -> int:
        return 1 + self.retries

    def compute(self, failures: int) -> int:
        """Seconds to wait after the ``failures``-th failed attempt (Celery's formula, without jitter)."""
        return int(min(self.backoff_max, self.backoff * 2 ** (failures - 1)))

    def delays(self) -> list[int]:
        return [self.compute(n) for n in range(1, self.retries + 1)]

    def celery_options(self) -> dict[str, Any]:
        """Task options giving the same schedule through Celery's autoretry (countdown 1, 2, 4, ...)."""
        return {
            "max_retries": self.retries,
            "retry_backoff": self.backoff,
            "retry_backoff_max": self.backoff_max,
            "retry_jitter": False,
        }
