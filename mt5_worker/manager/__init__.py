"""One terminal, served safely. No Celery, no Redis: those live above (``fleet``, ``worker``).

- :mod:`.connection_manager`: ``MT5ConnectionManager``: lifecycle, session pool, lock, retries, logged SDK calls;
- :mod:`.pool`: ``Session`` and the LRU ``SessionPool`` (worker memory only);
- :mod:`.lock`: ``FairLock``: FIFO access to the terminal;
- :mod:`.retry`: ``RetryPolicy``: one schedule for the manager and Celery's autoretry;
- :mod:`.validation`: an account's login, password and server checked before the terminal is touched;
- :mod:`.snapshots`: ``SessionInfo``, ``PoolMetrics``, ``HealthReport``: what it hands out, never a password;
- :mod:`.market_requests`: the reads' arguments checked and converted to the SDK's (symbols, dates, forms, ...);
- :mod:`.market_data`: ``MarketData``: market reads of one account, answered as JSON;
- :mod:`.account_data`: ``AccountData``: account reads (positions, orders, history, margin, ``order_check``);
- :mod:`.order_intents`: an order request made ready to send once: validated, fingerprinted, tagged;
- :mod:`.desk_calls`: a desk's calls (close, close many, move SL/TP, cancel) as order intents built at send time;
- :mod:`.trading`: ``Trader``: ``order_send`` after the trading checks, and finding an order again.
"""

from mt5_worker.manager.connection_manager import CallHook, MT5ConnectionManager, TerminalState

__all__ = ["CallHook", "MT5ConnectionManager", "TerminalState"]
