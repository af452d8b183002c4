"""Live streams in Redis: ticks, M1 bars and trade events, readable by any Redis client (docs/streams.md).

- :mod:`.keys`: the stream keys and the feeds' keys, names other services depend on;
- :mod:`.ids`: entry IDs derived from tick times, and where a reader resumes (``since``);
- :mod:`.cursor`: which ticks of an overlapping poll are new;
- :mod:`.bars`: M1 bars built from the published ticks;
- :mod:`.codec`: entries' fields, written as decimal strings and read back as the SDK's types;
- :mod:`.publisher`: appending entries with their IDs, trimming by age, the trimmed horizon;
- :mod:`.subscriptions`: which symbols readers want, each a lease a feed serves;
- :mod:`.positions`: where a reader starts, and the gap event it is owed;
- :mod:`.reader`: a blocking reader (threads); :mod:`.hub`: one asyncio reader shared by many iterators;
- :mod:`.feed_view`: each server's leading feed and its last status, as ``mt5-worker status`` shows them.
"""
