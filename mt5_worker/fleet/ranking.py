"""The top of each account's rendezvous ranking, cached for a router and kept right as workers join and leave.

Ranking one account scores every live worker (one hash each): at 1,000 workers that is about a millisecond per
send, at 10,000 twenty. A router sends to the same accounts over and over while the membership rarely changes, so
:class:`RankingCache` keeps, per account, the first :attr:`~RankingCache.depth` workers of its ranking with their
scores, and on a new reading applies only the difference: a departed worker is dropped from each prefix, and a
joining worker (one hash per cached account) goes in where its score places it if it lands above the prefix's
last entry. What is kept is then still exactly the top of the new ranking (every worker left out ranks below the
prefix's last entry), possibly shorter; an emptied prefix is ranked afresh on its next use. Answers are those of
:func:`~mt5_worker.fleet.routing.ranking`, which the tests check against it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Mapping

Key = tuple[float, str]  # (score, terminal id): the ranking's order, highest first, the id breaking ties


class RankingCache:
    """Per-account prefixes of the rendezvous ranking over one membership (terminal id -> capacity); at most
    ``max_accounts`` of them, least recently used dropped first. Not thread-safe: the router holds its lock."""

    def __init__(self, score: Callable[[str, int, int], float], depth: int = 4, max_accounts: int = 65_536) -> None:
        if depth < 1 or max_accounts < 1:
            raise ValueError(f"depth and max_accounts must be >= 1, got {depth} and {max_accounts}")
        self._score = score  # rendezvous_score(terminal_id, login, weight)
        self.depth = depth
        self.max_accounts = max_accounts
        self._workers: dict[str, int] = {}
        self._prefixes: OrderedDict[int, list[Key]] = OrderedDict()
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
        for login in list(self._prefixes):
            keys = [key for key in self._prefixes[login] if key[1] not in removed]
            for tid, capacity in added.items():
                key = (self._score(tid, login, capacity), tid)
                if keys and key > keys[-1]:  # above the prefix's last: it belongs inside the prefix
                    keys.append(key)
                    keys.sort(reverse=True)
                    del keys[self.depth :]
            if keys:
                self._prefixes[login] = keys
            else:
                del self._prefixes[login]

    def prefix(self, login: int) -> list[str]:
        """The first workers of ``login``'s ranking, best first: at least one while any worker is live."""
        keys = self._prefixes.get(login)
        if keys is None:
            self.misses += 1
            scored = ((self._score(tid, login, capacity), tid) for tid, capacity in self._workers.items())
            keys = heapq.nlargest(self.depth, scored)
            if not keys:
                return []
            self._prefixes[login] = keys
            if len(self._prefixes) > self.max_accounts:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(login)
        return [tid for _, tid in keys]

    def first(self, login: int) -> str | None:
        """``login``'s first choice, as :func:`~mt5_worker.fleet.routing.choose` gives it; None without workers."""
        prefix = self.prefix(login)
        return prefix[0] if prefix else None
