"""The top of each account's rendezvous ranking, cached for a router and kept right as workers join and leave.

Ranking one account scores every live worker (one hash each): at 1,000 workers that is about a millisecond per
send, at 10,000 twenty. A router sends to the same accounts over and over while the membership rarely changes, so
:class:`RankingCache` keeps, per account, the first :attr:`~RankingCache.depth` workers of its ranking, and on a
new reading applies only the difference: a departed worker is dropped from each prefix, and a joining worker (a
hash or two per cached account) goes in where its score places it if it outscores the prefix's last entry. What
is kept is then still exactly the top of the new ranking (every worker left out ranks below the prefix's last
entry), possibly shorter; an emptied prefix is ranked afresh on its next use. Only the ids are kept (about 210
bytes per account at depth 8); scores are computed again on the rare insertion. An account whose sends need to
look past its prefix (a hot account spilling under bounded load) gets a deeper one (:meth:`RankingCache.deeper`).
Answers are those of :func:`~mt5_worker.fleet.routing.ranking`, which the tests check against it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Mapping

Key = tuple[float, str]  # (score, terminal id): the ranking's order, highest first, the id breaking ties


class RankingCache:
    """Per-account prefixes of the rendezvous ranking over one membership (terminal id -> capacity); at most
    ``max_accounts`` of them, least recently used dropped first. Not thread-safe: the router holds its lock."""

    def __init__(self, score: Callable[[str, int, int], float], depth: int = 8, max_accounts: int = 65_536) -> None:
        if depth < 1 or max_accounts < 1:
            raise ValueError(f"depth and max_accounts must be >= 1, got {depth} and {max_accounts}")
        self._score = score  # rendezvous_score(terminal_id, login, weight)
        self.depth = depth
        self.max_accounts = max_accounts
        self._workers: dict[str, int] = {}
        self._prefixes: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self.misses = 0  # prefixes computed from scratch (every worker scored), for the benchmarks

    def __len__(self) -> int:
        return len(self._prefixes)

    def update(self, workers: Mapping[str, int]) -> None:
        """A new reading of the membership: keep each cached prefix right for it."""
        old, new = self._workers, dict(workers)
        if new == old:
            return
        self._workers = new
        removed = {tid for tid, capacity in old.items() if new.get(tid) != capacity}
        added = {tid: capacity for tid, capacity in new.items() if old.get(tid) != capacity}
        if not new or len(added) * 2 > len(new):  # mostly new workers: ranking afresh on use is as cheap
            self._prefixes.clear()
            return
        for login, cached in list(self._prefixes.items()):
            prefix = [tid for tid in cached if tid not in removed] if removed else list(cached)
            if prefix and added:
                last = self._key(prefix[-1], login)
                newcomers = [key for key in (self._key(tid, login) for tid in added) if key > last]
                if newcomers:  # above the prefix's last: they belong inside the prefix, as long as it was
                    keys = sorted([*(self._key(tid, login) for tid in prefix), *newcomers], reverse=True)
                    prefix = [tid for _, tid in keys[: len(cached)]]
            if prefix:
                self._prefixes[login] = tuple(prefix)
            else:
                del self._prefixes[login]

    def prefix(self, login: int) -> tuple[str, ...]:
        """The first workers of ``login``'s ranking, best first: at least one while any worker is live."""
        prefix = self._prefixes.get(login)
        if prefix is None:
            return self._rank(login, self.depth)
        self._prefixes.move_to_end(login)
        return prefix

    def deeper(self, login: int) -> tuple[str, ...]:
        """``login``'s prefix four times as deep (all of the ranking at most), cached in its place: an account whose
        load spills past its prefix (a hot one, under bounded load) keeps a prefix long enough for its sends."""
        return self._rank(login, 4 * len(self.prefix(login)))

    def _rank(self, login: int, depth: int) -> tuple[str, ...]:
        self.misses += 1
        keys = heapq.nlargest(depth, (self._key(tid, login) for tid in self._workers))
        if not keys:
            return ()
        prefix = self._prefixes[login] = tuple(tid for _, tid in keys)
        self._prefixes.move_to_end(login)
        if len(self._prefixes) > self.max_accounts:
            self._prefixes.popitem(last=False)
        return prefix

    def first(self, login: int) -> str | None:
        """``login``'s first choice, as :func:`~mt5_worker.fleet.routing.choose` gives it; None without workers."""
        prefix = self.prefix(login)
        return prefix[0] if prefix else None

    def _key(self, terminal_id: str, login: int) -> Key:
        return self._score(terminal_id, login, self._workers[terminal_id]), terminal_id
