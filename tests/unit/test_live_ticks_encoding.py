"""examples/live_ticks.py encodes a tick once for all the browsers it goes to, never mixing two servers' ticks."""

from __future__ import annotations

import json

from examples import live_ticks


def tick(bid: float) -> dict[str, object]:
    return {"type": "tick", "symbol": "EURUSD", "id": "1796212800123-0", "time_msc": 1796212800123, "bid": bid}


def test_a_tick_is_encoded_once_per_server_and_entry() -> None:
    demo, live = tick(1.08501), tick(1.08502)  # the same symbol and millisecond on two trade servers
    first = live_ticks._encode("MetaQuotes-Demo", demo)
    assert first is live_ticks._encode("MetaQuotes-Demo", dict(demo))  # the same text object: encoded once
    assert json.loads(live_ticks._encode("Simulated-Live", live))["bid"] == 1.08502
    assert json.loads(first)["bid"] == 1.08501


def test_gap_events_are_never_taken_from_the_cache() -> None:
    gaps = [{"type": "gap", "symbol": "EURUSD", "from_msc": start, "to_msc": start + 10} for start in (1, 2)]
    assert [json.loads(live_ticks._encode("MetaQuotes-Demo", g)) for g in gaps] == gaps


def test_the_cache_keeps_the_newest_ticks_only() -> None:
    for n in range(live_ticks.ENCODED + 100):
        live_ticks._encode("Bench", {"type": "tick", "symbol": "X", "id": f"{n}-0"})
    assert len(live_ticks._encoded) <= live_ticks.ENCODED + 1
    assert ("Bench", "X", f"{live_ticks.ENCODED + 99}-0") in live_ticks._encoded
