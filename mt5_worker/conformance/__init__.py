"""Conformance: the SDK facts the service relies on, each with a check a user runs against a terminal
(``mt5-worker conformance``; docs/real-terminal.md, "Checking your terminal"), and that the simulator passes in CI.

One concept a module:

- :mod:`.facts`: the table: each fact's name, page, source, expectation, check, and the simulator's documented
  simplification if any; everything else follows it;
- :mod:`.context`: what a check gets (the terminal, the account, the symbol) and gives back (an observation);
- :mod:`.connection_checks`, :mod:`.market_failure_checks`, :mod:`.market_data_checks`, :mod:`.account_checks`:
  the read-only checks; :mod:`.trading_checks` those that trade (``--trading``), with :mod:`.orders`, the requests
  they make and the positions they close;
- :mod:`.runner`: running the checks: verdicts, positions left open closed at the end;
- :mod:`.report`: the run as data, lines and markdown, redacted;
- :mod:`.doc_tables`: each page's list of checked facts, generated from the table (``make docs``).

The checks talk to the terminal port as the service does; the command line (:mod:`mt5_worker.cli.conformance`)
gets the terminal from the backend chooser.
"""
