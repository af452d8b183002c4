"""``mt5-worker feed``: one trade server's market data, polled from a terminal, published to Redis Streams.

- :mod:`.lease`: the leadership among a server's feeds;
- :mod:`.symbol_feed`: one symbol's polls (new ticks, the bars they make, whether its market is open);
- :mod:`.service`: the feed's loop (:class:`~mt5_worker.feed.service.Feed`);
- :mod:`.metrics`: its Prometheus figures;
- :mod:`.main`: the command, from settings to a running feed.
"""
