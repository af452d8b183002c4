"""A fleet: one Redis, the processes started against it, and a Celery client configured as a deployment's.

Workers run the production command, configured only through ``MT5_*`` variables, as any deployment is. The
client side is built from the same :func:`~mt5_worker.worker.celery_config.celery_config` the workers use,
for this fleet's Redis, and routes through a router of its own: this process's ``celeryconfig`` reads this
process's environment, which names some other Redis (or none). Tests (``tests/celery_fixtures.py``), the
benchmarks (``bench/harness.py``) and the fault campaign (``reliability/``) all run on it.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis
from celery import Celery
from kombu.common import Broadcast

from harness.env import child_env, env_values
from harness.flower import FlowerProcess
from harness.processes import BeatProcess, BridgeProcess, FeedProcess, Process, WorkerProcess
from harness.web import ExampleService
from mt5_worker.cli.devstack import ManagedProcess, RedisServer, wait_for
from mt5_worker.client import MT5Client
from mt5_worker.fleet.routing import AffinityRouter
from mt5_worker.settings import Settings
from mt5_worker.worker.celery_config import EVICT_ROUTE, celery_config

P = TypeVar("P", bound=Process | ManagedProcess)


class Fleet:
    """A Redis (``redis_url``, or a private ``redis-server`` started with ``redis_args`` and owned by the fleet)
    and the processes started against it; :meth:`close` stops every one of them.

    ``host`` names the workers (``w1@host``, their terminal ids), ``worker_args`` go on their command line,
    ``env`` is every child's base settings. ``bridged`` puts each worker's terminal behind a bridge of its own.
    ``results=False`` gives the client no result backend: it publishes without subscribing to a result
    channel per task (the benchmarks read results from the backend's keys instead). ``broker_url`` puts the
    queues on another broker (RabbitMQ's ``amqp://...``) while results and fleet state stay in the Redis.
    ``client_settings`` configure the client side (``settings()``, ``client``), e.g. ``credentials_key``.
    ``forked=False`` starts every process from an empty interpreter instead of the fork server
    (:mod:`harness.forkserver`): what a benchmark's full run does, whose figures may include start-ups.
    """

    def __init__(
        self,
        log_dir: Path,
        redis_url: str | None = None,
        *,
        redis_args: Sequence[str] = (),
        host: str = "test",
        worker_args: Sequence[str] = (),
        env: Mapping[str, Any] | None = None,
        bridged: bool = False,
        results: bool = True,
        broker_url: str | None = None,
        forked: bool = True,
        **client_settings: Any,
    ) -> None:
        self.log_dir = log_dir
        self.forked = forked
        self.redis: RedisServer | None = None
        if redis_url is None:
            self.redis = RedisServer(log_dir, args=redis_args).start()
            redis_url = self.redis.url
        self.redis_url = redis_url
        self.host = host
        self.worker_args = tuple(worker_args)
        self.bridged = bridged
        self.broker_url = broker_url or redis_url
        self.client_settings = client_settings | ({"celery_broker_url": broker_url} if broker_url else {})
        # The simulated trade servers' state is the fleet's own: it outlives workers and bridges, as a real
        # server's does, and no earlier run's orders show up in this one.
        base = {"REDIS_URL": redis_url, "MT5_BACKEND": "simulator", "MT5_LOG_FORMAT": "json",
                "MT5_SIMULATOR_TRADE_STORE": str((log_dir / "trade-servers.sqlite3").resolve())}  # fmt: skip
        base |= {"CELERY_BROKER_URL": broker_url} if broker_url else {}
        self.env = child_env(base | dict(env or {}))
        self.processes: list[Process | ManagedProcess] = []  # in start order; stopped in reverse
        self.workers: list[WorkerProcess] = []
        self._queues_declared = False
        # Refreshable (celeryconfig's own router is not): a script that writes the registry can re-read it now.
        self.router = AffinityRouter.from_settings(self.settings())
        self.app = self.client_app(results)
        self.r = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=1)
        self._client: MT5Client | None = None

    # --- the client side --------------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        """Settings of a client of this fleet (never from ``.env``; ``client_settings`` and ``overrides``)."""
        return Settings.load(_env_file=None, redis_url=self.redis_url, **(self.client_settings | overrides))

    def client_app(self, results: bool = True) -> Celery:
        """A Celery client app configured as the workers are, routing accounts through :attr:`router`."""
        app = Celery("mt5-harness", set_as_current=False)
        app.conf.update(celery_config(self.settings()))
        app.conf.task_routes = (EVICT_ROUTE, self.router)
        if not results:
            app.conf.result_backend = "disabled"
        return app

    @property
    def client(self) -> MT5Client:
        """An ``MT5Client`` on :attr:`app` (made on first use, closed by :meth:`close`)."""
        if self._client is None:
            self._client = MT5Client(app=self.app, settings=self.settings())
        return self._client

    def call(self, name: str, *args: Any, queue: str | None = None, timeout: float = 30, **kwargs: Any) -> Any:
        """Send task ``name`` (routed as Celery routes it unless ``queue`` is given) and wait for its result."""
        options = {"queue": queue} if queue is not None else {}
        return self.app.send_task(name, args=args, kwargs=kwargs, **options).get(timeout=timeout)

    def live_workers(self) -> set[str]:
        """Terminal ids in the registry now (not a reading up to a second old)."""
        self.router.refresh()
        return set(self.router.live())

    # --- processes --------------------------------------------------------------------------------------

    def worker_env(self, **settings: Any) -> dict[str, str]:
        return self.env | env_values(settings)

    def worker(
        self, name: str = "w1", *, wait: bool = True, bridged: bool | None = None, **settings: Any
    ) -> WorkerProcess:
        """Start a worker with ``settings`` (``MT5_*`` variables) on top of the fleet's; ``wait``: until it is
        ready (not yet registered: see :meth:`wait_serving`)."""
        env = self.worker_env(**settings)
        bridge = None
        if self.bridged if bridged is None else bridged:
            # One terminal per worker, as in production: its own bridge hosts the simulator, which takes the
            # MT5_SIMULATOR_* settings; the worker reaches it with MT5_BACKEND=bridge.
            simulator = {k: v for k, v in env.items() if k.startswith("MT5_SIMULATOR_")}
            bridge = self.bridge(env=simulator)
            timeout = float(env.get("MT5_BRIDGE_TIMEOUT", 30.0))
            env = {k: v for k, v in env.items() if k not in simulator} | bridge.worker_env(timeout)
        worker = self.track(WorkerProcess(name, env, self.log_dir, host=self.host, args=self.worker_args,
                                          bridge=bridge))  # fmt: skip
        self.workers.append(worker)
        if self.broker_url.startswith("amqp") and not self._queues_declared:
            self.declare_queues()
        return worker.start(wait)

    def declare_queues(self) -> None:
        """Declare the shared queues as every worker and client does, before any worker starts: RabbitMQ 3.x can
        stall one of several connections that declare the same new quorum queue at once (a worker that never
        gets ready); declaring an existing queue again is a no-op."""
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in self.app.amqp.queues.values():
                if not isinstance(queue, Broadcast):  # each worker's own, named at random
                    queue(channel).declare()
        self._queues_declared = True

    def start_workers(self, names: Sequence[str], **settings: Any) -> list[WorkerProcess]:
        """Workers with the same settings, started together (their start-ups overlap), each ready and registered."""
        return self.wait_serving([self.worker(name, wait=False, **settings) for name in names])

    def wait_serving(self, workers: Sequence[WorkerProcess], timeout: float = 30.0) -> list[WorkerProcess]:
        """Wait until each worker is ready and in the registry, so that routing sends its accounts to it."""
        for worker in workers:
            worker.wait_ready()
        wanted = {w.nodename for w in workers}
        wait_for(lambda: wanted <= self.live_workers(), timeout, "workers to register")
        return list(workers)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def beat(self, name: str = "beat", **settings: Any) -> BeatProcess:
        """Start a beat (one per deployment; a second, named otherwise, is a mistake a scenario can make)."""
        return self.track(BeatProcess(name, self.worker_env(**settings), self.log_dir)).start()

    def bridge(self, **kwargs: Any) -> BridgeProcess:
        """Start a bridge hosting the simulator (:class:`~harness.processes.BridgeProcess`' arguments)."""
        return self.track(BridgeProcess(self.log_dir, **kwargs)).start()

    def feed(self, name: str = "feed", *, wait: bool = True, **settings: Any) -> FeedProcess:
        """Start ``mt5-worker feed`` against this fleet's Redis with ``settings`` (``MT5_FEED_*`` ...) on top of
        the fleet's; the simulator behind it is pinned to the fleet's clock as every child is."""
        return self.track(FeedProcess(name, self.worker_env(**settings), self.log_dir)).start(wait)

    def example_service(self, *uvicorn_args: str, **settings: Any) -> ExampleService:
        """Start the example web service (``examples/fastapi_app.py`` under uvicorn, with ``uvicorn_args``) against
        this fleet, with ``settings`` on top of the fleet's (``MT5_REQUEST_TIMEOUT`` ...)."""
        return self.track(ExampleService(self.worker_env(**settings), self.log_dir, args=uvicorn_args)).start()

    def flower(self, basic_auth: str | None = None) -> FlowerProcess:
        """Start Flower against this fleet's broker, behind ``basic_auth`` (``user:password``) if given."""
        return self.track(FlowerProcess(self.env, self.log_dir, basic_auth)).start()

    def track(self, process: P) -> P:
        """Stop ``process`` with the fleet, and start it forked or not as the fleet's own are (the fleet's workers, or
        one started outside it, e.g. a web app using the fleet)."""
        if isinstance(process, Process) and not self.forked:
            process.forked = False
        self.processes.append(process)
        return process

    # --- state and logs ---------------------------------------------------------------------------------

    def fresh_redis(self) -> None:
        """Forget everything (queues, results, registry, sessions), e.g. between benchmark variants."""
        self.r.flushdb()

    def log_files(self) -> dict[str, str]:
        """Every log file in the fleet's directory (every incarnation of every process, Redis's), by file name."""
        return {p.name: p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log"))}

    def logs(self) -> str:
        """Everything every process of the fleet wrote, in one text."""
        return "".join(self.log_files().values())

    def close(self) -> None:
        # AsyncResults left in reference cycles unsubscribe from their result channel when collected: let that
        # happen now, while Redis is up (later, it would block ~20 s each retrying a stopped Redis).
        gc.collect()
        for process in reversed(self.processes):
            process.stop()
        if self._client is not None:
            self._client.close()
        self.app.close()
        self.r.close()
        if self.redis is not None:
            self.redis.stop()
