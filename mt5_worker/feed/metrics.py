"""Prometheus metrics of a feed process (``MT5_METRICS_PORT``), read from the feed at scrape time.

``mt5_feed_ticks_published_total{server,symbol}``, ``mt5_feed_lag_seconds{server,symbol}`` (the trade server's
now minus the symbol's last published tick), ``mt5_feed_market_open{server,symbol}`` (1/0, by the symbol's own
history: :meth:`~mt5_worker.feed.symbol_feed.SymbolFeed.check_market`), ``mt5_feed_leader{server}`` (1 while this
feed leads), ``mt5_feed_leader_changes_total{server}`` (times it took the lead) and
``mt5_stream_subscribers{server}`` (live subscriptions). Labels hold server and symbol names, never a login:
their number is bounded by the symbols served (docs/metrics.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mt5_worker.feed.service import Feed


class FeedCollector(Collector):
    """A feed's figures; :meth:`observe` is the feed's ``observe`` hook."""

    def __init__(self) -> None:
        self.feed: Feed | None = None
        self.published: Counter[str] = Counter()
        self.leader_changes = 0

    def observe(self, event: str, fields: dict[str, Any]) -> None:
        if event == "published":
            self.published[str(fields["symbol"])] += int(fields["written"])
        elif event == "leader" and fields.get("leading"):
            self.leader_changes += 1

    def collect(self) -> Iterator[Metric]:
        feed = self.feed
        if feed is None:
            return
        server = feed.server
        published = CounterMetricFamily(
            "mt5_feed_ticks_published", "Ticks this feed appended", labels=["server", "symbol"]
        )
        for symbol, count in sorted(self.published.items()):
            published.add_metric([server, symbol], count)
        yield published
        lag = GaugeMetricFamily("mt5_feed_lag_seconds", "Trade server's now minus the last tick published",
                                labels=["server", "symbol"])  # fmt: skip
        for symbol, seconds in sorted(feed.lags().items()):
            lag.add_metric([server, symbol], seconds)
        yield lag
        market = GaugeMetricFamily("mt5_feed_market_open", "1 while the symbol's market is open, by its history",
                                   labels=["server", "symbol"])  # fmt: skip
        for symbol, state in sorted(feed.symbols.items()):
            if state.market_open is not None:
                market.add_metric([server, symbol], int(state.market_open))
        yield market
        leader = GaugeMetricFamily("mt5_feed_leader", "1 while this feed leads its server's feeds", labels=["server"])
        leader.add_metric([server], int(feed.lease.held))
        yield leader
        changes = CounterMetricFamily("mt5_feed_leader_changes", "Times this feed took the lead", labels=["server"])
        changes.add_metric([server], self.leader_changes)
        yield changes
        subscribers = GaugeMetricFamily("mt5_stream_subscribers", "Live subscriptions to this server's symbols",
                                        labels=["server"])  # fmt: skip
        subscribers.add_metric([server], feed.subscribers)
        yield subscribers


def registry_for(collector: FeedCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
