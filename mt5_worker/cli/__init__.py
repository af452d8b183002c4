"""The ``mt5-worker`` console script and its commands (worker, beat, bridge, call, health, status, conformance, demo,
settings):

- :mod:`.main`: the command line and its dispatch; ``worker``/``beat`` exec Celery after checking the settings;
- :mod:`.__main__`: ``python -m mt5_worker.cli``, the console script where it is not on the ``PATH``;
- :mod:`.call`: ``mt5-worker call``: one task from the shell, JSON out, typed errors as exit codes;
- :mod:`.health`: ``mt5-worker health``: the container healthcheck (Redis, Celery ping, terminal);
- :mod:`.conformance`: ``mt5-worker conformance``: the SDK facts checked against the configured terminal, a report;
- :mod:`.feed_health`: ``mt5-worker health --feed SERVER``: whether a trade server's feed serves fresh data;
- :mod:`.status`: ``mt5-worker status``: the fleet on one screen from Redis alone (``--json``, ``--watch``);
- :mod:`.demo`: ``mt5-worker demo`` (``make demo``, ``make serve``), on the simulator's demo accounts;
- :mod:`.devstack`: a private Redis, workers and beat as subprocesses, for the demo and the tests;
- :mod:`.progress`: progress of long operations: in place on a TTY, periodic lines otherwise;
- :mod:`.settings_doc`: the settings table of docs/configuration.md, generated from ``Settings`` (``make docs``).
"""

from mt5_worker.cli.main import main, worker_command

__all__ = ["main", "worker_command"]
