"""Ground truth of the live streams: the ticks a simulated trade server made, drawn in this process.

The simulator's ticks are a pure function of (seed, server, symbol, time) for a given tick rate, so the trade
server's ``copy_ticks_range`` over a window, on the harness's pinned clock (:func:`~harness.env.clock_offset`),
is exactly what a feed serving it must have published; each tick paired with the entry ID a feed derives from it
(``{time_msc}-{n}``, ``n`` its place among its millisecond's ticks).
"""

from __future__ import annotations

from typing import NamedTuple

from harness.env import clock_offset
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.streams.ids import EntryId
from mt5_worker.terminal import constants as c


class Tick(NamedTuple):
    id: str
    time_msc: int
    bid: float
    ask: float


def terminal(server: str, rate: float | None) -> SimulatedTerminal:
    """A simulated terminal on ``server`` at ``rate`` (``MT5_SIMULATOR_TICK_RATE``), on the pinned clock."""
    account = next(a for a in DEMO_ACCOUNTS if a.server == server)
    sim = SimulatedTerminal(clock_offset=clock_offset(), tick_rate=rate)
    if not sim.initialize(login=account.login, password=account.password.get_secret_value(), server=server):
        raise RuntimeError(f"the simulator refused {server}: {sim.last_error()}")
    return sim


def ticks(sim: SimulatedTerminal, symbol: str, start_ms: int, end_ms: int) -> list[Tick]:
    """``symbol``'s ticks with ``start_ms <= time_msc <= end_ms``, with their entry IDs, in order."""
    found = sim.copy_ticks_range(symbol, start_ms // 1000, end_ms // 1000 + 1, c.COPY_TICKS_ALL)
    if found is None:
        raise RuntimeError(f"copy_ticks_range({symbol}) failed: {sim.last_error()}")
    out, previous, seq = [], None, 0
    for t in found:
        ms = int(t["time_msc"])
        seq = seq + 1 if ms == previous else 0
        previous = ms
        if start_ms <= ms <= end_ms:
            out.append(Tick(f"{ms}-{seq}", ms, float(t["bid"]), float(t["ask"])))
    return out


def ticks_through(sim: SimulatedTerminal, symbol: str, start_ms: int, last_id: str) -> list[Tick]:
    """``symbol``'s ticks from ``start_ms`` through the entry ``last_id``: what a reader that stopped there is owed.
    Several ticks may share a millisecond, so the ticks of ``last_id``'s millisecond after it are not."""
    last = EntryId.parse(last_id)
    return [t for t in ticks(sim, symbol, start_ms, last.ms) if EntryId.parse(t.id) <= last]
