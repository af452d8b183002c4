"""What the workers of a fleet share in Redis, without Celery:

- :mod:`.sessions`: the Redis connection and the per-worker store of account sessions (last use, no passwords);
- :mod:`.registry`: the live workers (terminals), their capacity and their last load reports; departed workers'
  reapers;
- :mod:`.load`: each terminal's backlog as a router estimates it: the workers' reports plus its own sends;
- :mod:`.routing`: account affinity: weighted rendezvous hashing over the live workers, bounded by load; or the
  shared queue, for every request (``MT5_ROUTING=shared``) or past a busy terminal (``adaptive``);
- :mod:`.ranking`: the top of each account's rendezvous ranking, cached for a router across joins and leaves;
- :mod:`.order_journal`: orders' idempotency records: an atomic claim per (account, key), one outcome per key (and
  its trade event), the journal's epoch, batches' plans; its Lua scripts in :mod:`.journal_scripts`;
- :mod:`.order_desk`: at most one execution per order key (claim, reconcile, send once, record), audited;
- :mod:`.worker_status`: each worker's status record for operators (host, backend, terminal, pool, backlog);
- :mod:`.fleet_view`: the workers, their accounts and the trading keys in one reading, for ``mt5-worker status``.
"""
