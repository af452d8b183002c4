"""Account-affinity routing: every account's requests go to one terminal, chosen by rendezvous hashing."""

from __future__ import annotations

TERMINAL_QUEUE_PREFIX = "mt5.terminal."


def terminal_queue_name(terminal_id: str) -> str:
    """The queue only the worker owning terminal ``terminal_id`` consumes."""
    return f"{TERMINAL_QUEUE_PREFIX}{terminal_id}"
