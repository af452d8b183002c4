"""``mt5-worker feed``: the process, from settings to a running :class:`~mt5_worker.feed.service.Feed`.

Reads ``MT5_FEED_LOGIN``, ``MT5_FEED_PASSWORD``, ``MT5_FEED_SERVER`` and ``MT5_FEED_SYMBOLS`` (and the terminal's
settings, as a worker's); serves ``/metrics`` on ``MT5_METRICS_PORT`` when set. SIGTERM or SIGINT stop it
cleanly: it gives its lease up, so a standby takes over at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client import start_http_server

from mt5_worker.errors import SettingsError
from mt5_worker.feed.metrics import FeedCollector, registry_for
from mt5_worker.feed.service import Feed, FeedAccount
from mt5_worker.fleet.sessions import connect
from mt5_worker.logging import configure_logging, get_logger
from mt5_worker.manager.connection_manager import MT5ConnectionManager
from mt5_worker.settings import Settings, env_name

DESCRIPTION = """\
Serve one trade server's market data to Redis Streams (docs/streams.md): the ticks of MT5_FEED_SYMBOLS and of every
symbol someone subscribes to, as mt5:ticks:{server}:{symbol} and mt5:bars:{server}:{symbol}:M1. Run two or more
for one server: one leads, the others stand by and take over."""
EPILOG = """\
examples:
  MT5_FEED_LOGIN=10000001 MT5_FEED_PASSWORD=... MT5_FEED_SERVER=MetaQuotes-Demo MT5_FEED_SYMBOLS=EURUSD,BTCUSD \\
    mt5-worker feed
The password is read from the environment (or .env) only, never from the command line."""
ROUTINE = frozenset({"copy_ticks_from", "copy_ticks_range", "copy_rates_range"})  # the polls: debug-level lines


def account(settings: Settings) -> FeedAccount:
    """The feed's account from the settings; a missing part stops start-up naming its variable."""
    missing = [env_name(name) for name in ("feed_login", "feed_password", "feed_server")
               if getattr(settings, name) in (None, "")]  # fmt: skip
    if missing:
        raise SettingsError(f"mt5-worker feed needs {', '.join(missing)}: the account whose terminal it reads")
    assert settings.feed_login is not None and settings.feed_password is not None and settings.feed_server
    return FeedAccount(settings.feed_login, settings.feed_password.get_secret_value(), settings.feed_server)


def build(settings: Settings, **overrides: Any) -> tuple[Feed, FeedCollector]:
    collector = FeedCollector()
    manager = MT5ConnectionManager.from_settings(settings, routine=ROUTINE)
    feed = Feed(
        manager,
        connect(settings.effective_redis_url, timeout=2.0),
        account(settings),
        symbols=settings.feed_symbols,
        poll_interval=settings.feed_poll_interval,
        lease=settings.feed_lease,
        retention=settings.stream_retention,
        observe=collector.observe,
        **overrides,
    )
    collector.feed = feed
    return feed, collector


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mt5-worker feed", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.parse_args(argv)
    try:
        settings = Settings.load()
        configure_logging(settings.log_format, settings.log_level)
        feed, collector = build(settings)
    except SettingsError as exc:
        print(f"mt5-worker feed: {exc}", file=sys.stderr)
        return 2
    log = get_logger("mt5_worker.feed")
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_addr, registry=registry_for(collector))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("mt5.feed.started", server=feed.server, symbols=list(feed.fixed), feed=feed.id)
    try:
        feed.run(stop)
    finally:
        feed.manager.shutdown()
        log.info("mt5.feed.stopped", feed=feed.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
