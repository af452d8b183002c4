"""The feed's leadership: a lease in Redis that one feed of a trade server holds and renews.

Several feeds may run for one server; the one holding ``mt5:feed:leader:{server}`` publishes, the others stand by
and take it when it lapses (the leader stopped renewing: it died, hung, or lost Redis). Correctness does not rest
on the lease: two feeds publishing at once write the same time-derived entry IDs, and Redis refuses the second
copy of each (docs/streams.md). The lease only keeps one of them doing the work.
"""

from __future__ import annotations

import redis

# Renew or release only a lease this holder still holds: a lease that lapsed and was taken is the new leader's.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Lease:
    """``holder``'s lease on ``key``, lasting ``ttl`` seconds unless renewed."""

    def __init__(self, client: redis.Redis, key: str, holder: str, ttl: float) -> None:
        self._redis = client
        self.key = key
        self.holder = holder
        self._ttl_ms = int(ttl * 1000)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self.held = False

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; whether this holder holds it now."""
        self.held = bool(self._redis.set(self.key, self.holder, nx=True, px=self._ttl_ms))
        return self.held

    def renew(self) -> bool:
        """Extend the lease; ``False`` (and no longer held) if it lapsed and someone else took it meanwhile."""
        self.held = bool(self._renew(keys=[self.key], args=[self.holder, self._ttl_ms]))
        return self.held

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so a standby takes over without waiting for it to lapse."""
        if self.held:
            self._release(keys=[self.key], args=[self.holder])
        self.held = False

    def holder_now(self) -> str | None:
        value = self._redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
