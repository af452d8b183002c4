"""The Celery worker: the only layer that serves tasks.

- :mod:`.app`: the Celery app (``celery -A mt5_worker.worker.app``), its first bootstep and lifecycle signals;
- :mod:`.settings`: this worker process's ``Settings``, read once for the modules Celery imports by name;
- :mod:`.celery_config`: Celery's configuration computed from the settings, per broker (Redis or RabbitMQ);
- :mod:`.json_codec`: Celery's ``json`` served by orjson, the same plain JSON on the wire;
- :mod:`.tasks`: the ``mt5.*`` tasks of the task table, with autoretry of transient failures;
- :mod:`.trading_tasks`: ``mt5.order_send`` and ``mt5.order_result``, off unless ``MT5_TRADING_ENABLED``;
- :mod:`.runtime`: what one worker process owns: the manager, the session store, the sweep, the order desk;
- :mod:`.batching`: account-batched serving: a task strategy that regroups a bounded window by account;
- :mod:`.message_guard`: malformed messages are rejected with a result, never fatal to the worker;
- :mod:`.redelivery`: a redelivered message whose task already has its final result is not run again;
- :mod:`.unacked_restore`: a worker survives losing its Redis broker while it holds unacknowledged messages;
- :mod:`.heartbeat`: the bootstep that registers this worker, heartbeats and adopts departed workers' queues;
- :mod:`.load_report`: this worker's backlog and rate, as it reports them for bounded-load routing;
- :mod:`.reaper`: moves what a departed worker's queue still holds to the accounts' new owners;
- :mod:`.metrics`: the Prometheus endpoint of one worker process: the manager's counters, SDK latency and failures;
- :mod:`.task_metrics`: task outcomes, runtime and queue wait by task name, from Celery's signals in both processes;
- :mod:`.queue_wait`: the publish stamp (``mt5_published_at``) and how long a message waited;
- :mod:`.shared_board`: numbers the main process and the pool child share (outcomes, backlog, terminal state);
- :mod:`.trading_metrics`: order outcomes and the trading keys not done, as metrics;
- :mod:`.task_class`: every task's class: arguments redacted, a plain client's retries routed as MT5Client's;
- :mod:`.redaction`: task arguments shown redacted (logs, events, ``inspect``), whatever the client sent;
- :mod:`.result_backend`: the Redis result backend: errors any client can read, no traceback;
- :mod:`.result_repr`: Celery's bounded text of a result (success line, event), reading only what it shows.
"""
