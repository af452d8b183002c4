"""The simulator: an in-process MetaTrader 5 terminal behind the port, the default backend of the demo, the tests and
the benchmarks (``MT5_BACKEND=simulator``). An adapter like the others: only the backend chooser
(:mod:`mt5_worker.backends`) builds one from the settings; tests, benchmarks and the fault campaign use it directly.

The package, one concept a module:

- :mod:`.terminal`: :class:`SimulatedTerminal`: the connection, the accounts, call accounting, faults, crashes;
- :mod:`.parts`: what its sides share: state, hooks, the SDK's argument parsing (by the SDK table), bulk latency;
- :mod:`.market_side`: ``symbols_*``, ``symbol_*``, ``market_book_*``, ``copy_*`` (a mixin);
- :mod:`.account_side`: orders, positions, history, ``order_calc_*``, ``order_check`` (a mixin);
- :mod:`.trading_side`: ``order_send``, an account's ledger merged with its trade server's changes (a mixin);
- :mod:`.market`: the deterministic market of each trade server (a package: its modules are listed there);
- :mod:`.masks`: the ``group`` masks of ``symbols_get``, ``orders_get``, ``positions_get`` and the history;
- :mod:`.ledger`: an account's generated trading (positions, orders, history) over its market's ticks;
- :mod:`.trade_rules`: the trade server's rules (accepted or not, at what price), shared by ``order_check``;
- :mod:`.trade_execution`: what an accepted request changes: orders, deals, positions;
- :mod:`.trade_life`: what the market's ticks do between requests: pending orders fill or expire, SL/TP, stop-out;
- :mod:`.trade_store`: the trade servers' state in SQLite, shared by every simulated terminal naming the file;
- :mod:`.specs`: what a simulated terminal is made of: accounts, faults, latencies, and their parsing from the
  ``MT5_SIMULATOR_*`` values.
"""

from mt5_worker.simulator.specs import DEMO_ACCOUNTS
from mt5_worker.simulator.terminal import SimulatedTerminal

__all__ = ["DEMO_ACCOUNTS", "SimulatedTerminal"]
