"""The typed errors: each MT5 error's message first, and rebuilt from its args (what crosses JSON)."""

from __future__ import annotations

from mt5_worker import errors
from mt5_worker.errors import MT5Error


def test_every_mt5_error_has_its_message_first_and_rebuilds_from_its_args() -> None:
    kinds = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, MT5Error)]
    assert len(kinds) >= 7
    for kind in kinds:
        exc = kind("Terminal: Authorization failed", -6, 2)
        assert ("Terminal: Authorization failed", -6, 2) == exc.args
        rebuilt = kind(*exc.args)  # what Celery and pickle do
        assert (type(exc), exc.args, exc.message, exc.code, exc.attempts) == (
            type(rebuilt), rebuilt.args, rebuilt.message, rebuilt.code, rebuilt.attempts
        )  # fmt: skip
        assert "MT5 error -6: Terminal: Authorization failed after 2 attempts" == str(exc)
    assert ("IPC timeout", -10005, 3) == errors.error_from_code(-10005, 3).args
