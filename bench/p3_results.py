"""P3's variants, targets and results: what the run (:mod:`bench.p3_routing`) measures and its section of
docs/performance.md (:mod:`bench.p3_report`) reads, so that neither imports the other."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.harness import Account
from mt5_worker.settings import Settings

BOUND_TARGET = 2.0
BALANCE_TARGET, BALANCED_LOGINS_TARGET = 1.2, 1.2
# (d)'s MT5_ROUTING_LOAD_FACTOR and MT5_ROUTING_LOAD_FLOOR: the defaults
LOAD_FACTOR, LOAD_FLOOR = (
    Settings.model_fields["routing_load_factor"].default,
    Settings.model_fields["routing_load_floor"].default,
)


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    queue: str | None  # None: the router decides (affinity)
    batched: bool
    load_factor: float = 0.0  # the router's MT5_ROUTING_LOAD_FACTOR (0: plain affinity)


VARIANTS = (
    Variant("a", "round-robin FIFO", "mt5", batched=False),
    Variant("b", "affinity FIFO", None, batched=False),
    Variant("c", "affinity + batched", None, batched=True),
    Variant("d", "bounded-load + batched", None, batched=True, load_factor=LOAD_FACTOR),
)


@dataclass
class Outcome:
    logins: int
    wall: float  # workers started -> last result
    served: dict[str, int]  # terminal id -> requests it served (logins + reuses)
    batches: list[int]  # sizes of the batches the workers dispatched (wall runs only: they log at INFO)
    placed: list[str] | None  # the terminal each request was routed to (None: the shared queue)
    finished: dict[str, float]  # terminal id -> its last result, seconds after the workers started (routed runs)

    @property
    def balance(self) -> float | None:
        """Wall time / the balanced ideal: the busiest worker's time over the mean worker's. Every worker has a
        backlog from the start, so each is busy until it finishes, and the mean is the total service time
        divided among the workers (start-up included in both)."""
        if not self.finished:
            return None
        return max(self.finished.values()) / statistics.mean(self.finished.values())


@dataclass(frozen=True)
class Setup:
    workers: int
    window: int
    pool_size: int
    accounts: int
    seed: int
    quick: bool
    count_scale: float  # the login-count runs' latency: realistic x this


@dataclass
class Results:
    setup: Setup
    trace: list[Account]  # the login counts' trace
    wall_trace: list[Account]  # the wall times' trace (a prefix; the same one when --quick)
    assignment: dict[int, str]  # login -> terminal id, as rendezvous hashing places it over the workers
    counts: dict[str, Outcome]  # variant key -> outcome on ``trace``
    walls: dict[str, Outcome]  # variant key -> outcome on ``wall_trace``

    def bound(self, window: int | None = None, trace: Sequence[Account] | None = None) -> int:
        return lower_bound(self.trace if trace is None else trace, self.assignment, window or self.setup.window)

    def placed_bound(self, key: str) -> int:
        """The lower bound under the placement variant ``key``'s router actually made (request by request)."""
        placed = self.counts[key].placed
        assert placed is not None
        shares: dict[str, list[int]] = defaultdict(list)
        for (login, _, _), tid in zip(self.trace, placed, strict=True):
            shares[tid].append(login)
        w = self.setup.window
        return sum(len(set(share[i : i + w])) for share in shares.values() for i in range(0, len(share), w))

    @property
    def distinct(self) -> int:
        """One login per account per worker: the floor for any window."""
        return sum(len(set(share)) for share in _shares(self.trace, self.assignment).values())

    def batch_note(self) -> str:
        sizes = self.walls["c"].batches
        if not sizes:
            return "no batch of more than one request was dispatched"
        full = sum(size >= self.setup.window for size in sizes)
        return (f"{len(sizes):,} batches of 2+ requests dispatched, median size {statistics.median(sizes):g} "
                f"(window {self.setup.window}; {full} full), {sum(sizes):,} of {len(self.wall_trace):,} requests "
                "went through one")  # fmt: skip

    def ratio(self, key: str, over: str) -> float:
        base = self.bound() if over == "bound" else self.counts[over].logins
        return self.counts[key].logins / base


def _shares(trace: Sequence[Account], assignment: dict[int, str]) -> dict[str, list[int]]:
    """Each worker's requests (logins), in trace order."""
    shares: dict[str, list[int]] = defaultdict(list)
    for login, _, _ in trace:
        shares[assignment[login]].append(login)
    return shares


def lower_bound(trace: Sequence[Account], assignment: dict[int, str], window: int) -> int:
    """One login per account per worker per window: each worker's share cut into consecutive windows."""
    return sum(
        len(set(share[i : i + window])) for share in _shares(trace, assignment).values()
        for i in range(0, len(share), window)
    )  # fmt: skip
