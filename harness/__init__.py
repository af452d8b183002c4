"""What tests, benchmarks and the fault campaign share to run the service for real: processes, fleets, files.

- :mod:`harness.env`: the environment of every child process (only what the harness gives it);
- :mod:`harness.processes`: workers, beats and bridges that can be killed, paused and restarted;
- :mod:`harness.forkserver`: starts them as forks of a process that has imported what they import (a worker's
  start is mostly imports);
- :mod:`harness.flower`: Flower and its HTTP API; :mod:`harness.web`: the example web service (uvicorn);
- :mod:`harness.ground_truth`, :mod:`harness.tick_clients`, :mod:`harness.tick_load`: live ticks checked against
  the simulator, browsers of the example service, and the two together under load (bench S1);
- :mod:`harness.fleet`: a Redis, the processes started against it and a Celery client configured as a deployment's;
- :mod:`harness.accounts`: the simulated terminal's account file;
- :mod:`harness.sdk_standin`: a stand-in ``MetaTrader5`` module (the simulator behind the SDK's functions and record
  types), importable as ``MetaTrader5`` with ``harness/standin`` on the path, for the real adapter's tests;
- :mod:`harness.markdown`: the marked sections a script rewrites in a generated page;
- :mod:`harness.runs`: a benchmark's or scenario's command line, log directory and provenance lines;
- :mod:`harness.rabbitmq`: RabbitMQ as the broker: which one, a virtual host per fleet, what its queues hold;
- :mod:`harness.prometheus`: a real Prometheus scraping a fleet, and its HTTP API;
- :mod:`harness.dashboard`: the Grafana dashboard's queries as Prometheus runs them, and traffic that fills them.

Not part of the wheel (``pyproject.toml`` packages ``mt5_worker*`` only): nothing in production imports it.
"""
