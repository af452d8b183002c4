"""The fault campaign: scripts that break a real stack on purpose and count what happens to requests.

Each scenario is a module with a ``--quick`` mode (what ``tests/integration/test_reliability.py`` runs) and a full mode
whose figures are published in ``docs/reliability.md``:

- ``terminal_faults``: transient IPC errors and scripted terminal crashes inside the workers' terminals;
- ``worker_kill``: workers (and their pool children) SIGKILLed mid-task and restarted under the same name;
- ``redis_restart``: the broker/backend Redis restarted mid-run, with persistence on;
- ``bridge_faults``: the bridge killed, stopped (SIGSTOP) and replaced by a listener that never answers;
- ``double_beat``: two beats sending every idle sweep twice;
- ``credential_scan``: a mixed run, then every Redis key, log line, task result, persistence file and Flower
  API answer searched for every password;
- ``feed_kill``: feeds killed and Redis restarted while a subscriber streams a symbol: every tick exactly once;
- ``trade_kill``: orders sent while workers are SIGKILLed, bridges restarted and replies lost: every key
  executed at most once, and every key's outcome known.

``python -m reliability.run_all [--quick]`` runs them all. What they share: ``processes`` (their accounts, a bridge
that stalls), ``traffic`` (requests as a web app sends them, and their tally), ``secrets_scan`` (what a run left
behind, searched for secrets) and ``report`` (a scenario's table and its section of docs/reliability.md).
"""
