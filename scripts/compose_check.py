"""Run the compose stack for real and check it: ``make compose-check``.

    .venv/bin/python scripts/compose_check.py [--no-cache] [--with-grafana]

Uses the Docker daemon ``DOCKER_HOST`` names (the local one by default) and Docker Compose v2.24+. Under a
project name of its own (``mt5check-<random>``), with an env file of its own made from ``.env.example`` (the
documented ``cp .env.example .env``, plus the required secrets, generated), it:

1. builds the image (``--no-cache``: from scratch), and checks that it runs the installed package (site-packages),
   with no copy of the source;
2. checks that compose refuses, with the reason, a stack without ``FLOWER_BASIC_AUTH`` and the rabbitmq profile
   without ``RABBITMQ_PASSWORD``, and accepts the default stack without the latter;
3. starts every service of every profile (Grafana's image aside: ``--with-grafana`` adds it where it can be
   pulled), three workers, on Redis: all healthy; three workers registered (``mt5-worker status --json``);
   a plain Celery client (no mt5_worker import) served through the published Redis port; Flower 401 without
   and 200 with its basic auth; Prometheus scraping the three workers and every rule healthy;
4. starts them again with the queues on RabbitMQ and the worker's terminal behind the bridge: healthy; a plain
   client with Celery's defaults is served through the published RabbitMQ port, and refused with the error
   docs/interop.md quotes when it addresses the ``mt5`` queue;
5. ``docker compose --profile '*' down -v``, and checks that no container, network or volume of the project is left.

It prints each step's duration and a summary; exit 0 when every check passed. Whatever happens, it removes
what it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK = ["redis", "worker", "beat", "flower", "feed", "bridge", "rabbitmq", "prometheus"]  # every service but Grafana
HEALTHY = {"redis", "worker", "flower", "feed", "rabbitmq", "prometheus"}  # the services with a healthcheck


class CheckFailed(AssertionError):
    pass


class Check:
    def __init__(self, project: str, env_file: Path) -> None:
        self.project = project
        self.env_file = env_file
        self.timings: list[tuple[str, float]] = []
        self.volumes_before = _volumes()  # anonymous volumes carry no project label: compare the lists

    # --- running things ---------------------------------------------------------------------------------------

    def compose(self, *args: str, env_file: Path | None = None, check: bool = True,
                timeout: float = 900) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = ["docker", "compose", "-p", self.project, "-f", str(ROOT / "docker-compose.yml"),
                "--env-file", str(env_file or self.env_file), *args]  # fmt: skip
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=_clean_env())
        if check and result.returncode != 0:
            raise CheckFailed(f"{' '.join(argv[5:])} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        started = time.monotonic()
        print(f"-- {name}", flush=True)
        try:
            return action()
        finally:
            elapsed = time.monotonic() - started
            self.timings.append((name, elapsed))
            print(f"   {elapsed:.1f} s", flush=True)

    def published(self, service: str, port: int) -> str:
        address = self.compose("port", service, str(port)).stdout.strip()
        if not address.startswith("127.0.0.1:"):
            raise CheckFailed(f"{service}:{port} is published on {address!r}, not on loopback")
        return address

    def services(self) -> list[dict[str, Any]]:
        out = self.compose("ps", "--all", "--format", "json").stdout.strip()
        if out.startswith("["):
            found: list[dict[str, Any]] = json.loads(out)
            return found
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # --- the checks -------------------------------------------------------------------------------------------

    def refusals(self, base: dict[str, str]) -> None:
        without_flower = self._env_variant(base, drop={"FLOWER_BASIC_AUTH"})
        result = self.compose("up", "--no-start", env_file=without_flower, check=False)
        _expect(result.returncode != 0 and "FLOWER_BASIC_AUTH" in result.stderr,
                f"up without FLOWER_BASIC_AUTH was not refused: {result.stderr}")  # fmt: skip
        print(f"   refused: {result.stderr.strip().splitlines()[-1]}")
        _expect(not self.services(), "a refused `up` left containers behind")
        without_rabbit = self._env_variant(base, drop={"RABBITMQ_PASSWORD"})
        self.compose("config", "--quiet", env_file=without_rabbit)  # the default stack does not need it
        result = self.compose("--profile", "rabbitmq", "up", "-d", "rabbitmq", env_file=without_rabbit, check=False)
        guard = self.compose("--profile", "rabbitmq", "logs", "--no-color", "require-rabbitmq-password",
                             env_file=without_rabbit, check=False).stdout  # fmt: skip
        refused = result.returncode != 0 and "require-rabbitmq-password" in result.stderr
        _expect(refused and "set RABBITMQ_PASSWORD" in guard, f"rabbitmq without a password: {result.stderr}{guard}")
        running = [s["Name"] for s in self.services() if s["State"] == "running"]
        _expect(not running, f"running after the refusal: {running}")
        print(f"   refused: {result.stderr.strip().splitlines()[-1]}; its log: {guard.strip().splitlines()[-1]}")
        self.compose("--profile", "*", "down", "--volumes", env_file=without_rabbit)

    def image_runs_the_installed_package(self) -> None:
        probe = ("import mt5_worker, celeryconfig, os; print(mt5_worker.__file__); print(celeryconfig.__file__); "
                 "print(sorted(os.listdir('/app')))")  # fmt: skip
        out = self.compose("run", "--rm", "--no-deps", "--entrypoint", "python", "worker", "-c", probe).stdout
        package, config, listing = out.strip().splitlines()[-3:]
        installed = ("/site-packages/", "/dist-packages/")  # dist-packages: a Debian-built Python
        _expect(any(f"{d}mt5_worker/" in package for d in installed) and any(d in config for d in installed),
                f"the image imports {package} and {config}, not the installed package")  # fmt: skip
        _expect("mt5_worker" not in listing and "celeryconfig.py" not in listing, f"/app holds {listing}")
        print(f"   {package}")

    def healthy(self, workers: int) -> None:
        found = self.services()
        running = {s["Service"] for s in found if s["State"] == "running"}
        _expect(set(STACK) <= running, f"not running: {set(STACK) - running}")
        unhealthy = [s["Name"] for s in found if s["Service"] in HEALTHY and s.get("Health") != "healthy"]
        _expect(not unhealthy, f"not healthy: {unhealthy}")
        replicas = [s["Name"] for s in found if s["Service"] == "worker" and s["State"] == "running"]
        _expect(len(replicas) == workers, f"{len(replicas)} worker containers, expected {workers}")
        print(f"   {len(found)} containers: {', '.join(sorted(s['Name'] for s in found))}")

    def registered(self, workers: int) -> dict[str, Any]:
        out = self.compose("exec", "-T", "worker", "mt5-worker", "status", "--json").stdout
        status: dict[str, Any] = json.loads(out)
        live = [w for w in status["workers"] if w["state"] == "live"]
        _expect(len(live) == workers, f"{len(live)} live workers in the registry, expected {workers}")
        _expect(all(w["terminal"] in ("initialized", "connected") for w in live), f"terminals: {live}")
        print(f"   live: {', '.join(w['terminal_id'] + ' (' + w['backend'] + ')' for w in live)}")
        return status

    def plain_redis_client(self) -> None:
        url = f"redis://{self.published('redis', 6379)}/0"
        answer = _plain_client(PLAIN_REDIS_CLIENT, url)
        _expect(answer.get("initialized") is True, f"the plain client got {answer}")
        print(f"   mt5.health through {url} answered by {answer['worker_id']}")

    def flower(self, auth: str) -> None:
        url = f"http://{self.published('flower', 5555)}/api/workers"
        try:
            urllib.request.urlopen(url, timeout=10)
            raise CheckFailed("Flower answered without credentials")
        except urllib.error.HTTPError as exc:
            _expect(exc.code == 401, f"Flower without credentials: {exc.code}")
        token = base64.b64encode(auth.encode()).decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            _expect(response.status == 200, f"Flower with credentials: {response.status}")
        print("   401 without credentials, 200 with them")

    def prometheus(self, workers: int) -> None:
        base = f"http://{self.published('prometheus', 9090)}"

        def up() -> list[Any]:
            targets = _get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
            return [t for t in targets if t["labels"]["job"] == "mt5-worker" and t["health"] == "up"]

        _wait(lambda: len(up()) == workers, 60, f"Prometheus to scrape {workers} workers")
        feeds = [t for t in _get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
                 if t["labels"]["job"] == "mt5-feed" and t["health"] == "up"]  # fmt: skip
        _expect(len(feeds) == 2, f"{len(feeds)} feeds scraped, expected 2 (the streams profile)")
        rules = [r for g in _get_json(f"{base}/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        bad = [r["name"] for r in rules if r["health"] not in ("ok", "unknown")]
        _expect(len(rules) >= 18 and not bad, f"{len(rules)} rules, unhealthy: {bad}")
        print(f"   {len(up())} workers scraped, {len(rules)} rules loaded")

    def rabbitmq_clients(self, password: str) -> str:
        url = f"amqp://mt5:{password}@{self.published('rabbitmq', 5672)}/mt5"
        answer = _plain_client(PLAIN_AMQP_CLIENT, url, f"redis://{self.published('redis', 6379)}/0")
        _expect(answer.get("answer", {}).get("initialized") is True, f"the plain client got {answer}")
        refusal = str(answer.get("refused"))
        _expect("PRECONDITION_FAILED" in refusal and "exchange 'mt5'" in refusal,
                f"a plain client sending to the mt5 queue was not refused as documented: {refusal}")  # fmt: skip
        print(f"   with Celery's defaults: served by {answer['answer']['worker_id']}")
        print(f"   sent to the mt5 queue: {refusal}")
        return refusal

    def bridged(self) -> None:
        out = self.compose("exec", "-T", "worker", "mt5-worker", "health").stdout
        report = json.loads(out)
        _expect(report["healthy"] and report["checks"]["terminal"]["backend"] == "bridge", f"health: {report}")
        print(f"   {report['worker']}: healthy, terminal behind the bridge")

    def down(self) -> None:
        self.compose("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "20")
        label = f"label=com.docker.compose.project={self.project}"
        for kind in ("container", "network", "volume"):
            every = ["--all"] if kind == "container" else []
            left = subprocess.run(["docker", kind, "ls", *every, "--quiet", "--filter", label], capture_output=True,
                                  text=True, env=_clean_env()).stdout  # fmt: skip
            _expect(not left.strip(), f"{kind}s left after down: {left.split()}")
        new = _volumes() - self.volumes_before
        _expect(not new, f"anonymous volumes left after down: {sorted(new)}")
        print("   no container, network or volume of the project left")

    def _env_variant(self, base: dict[str, str], drop: set[str]) -> Path:
        path = self.env_file.with_name(f"{self.env_file.stem}-{'-'.join(sorted(drop)).lower()}.env")
        write_env(path, {k: v for k, v in base.items() if k not in drop})
        return path


PLAIN_REDIS_CLIENT = """
import json, sys
from celery import Celery
app = Celery(broker=sys.argv[1], backend=sys.argv[1])
print(json.dumps(app.send_task("mt5.health", queue="celery").get(timeout=60)))
"""

PLAIN_AMQP_CLIENT = """
import json, sys
from celery import Celery
broker, backend = sys.argv[1], sys.argv[2]
app = Celery(broker=broker, backend=backend)  # Celery's defaults: the "celery" queue, as docs/interop.md says
answer = app.send_task("mt5.health").get(timeout=60)
try:  # a queue the service declares as a quorum queue on a topic exchange: refused, as the docs say
    app.send_task("mt5.health", queue="mt5", retry=False)
    refused = None
except Exception as exc:  # PreconditionFailed
    refused = f"{type(exc).__name__}: {exc}"
print(json.dumps({"answer": answer, "refused": refused}))
"""


def _plain_client(script: str, *urls: str) -> dict[str, Any]:
    """``script`` in a fresh interpreter that never imports mt5_worker (isolated: no cwd, no PYTHONPATH)."""
    result = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent(script), *urls], capture_output=True,
                            text=True, timeout=120, cwd=tempfile.gettempdir())  # fmt: skip
    if result.returncode != 0:
        raise CheckFailed(f"the plain client failed:\n{result.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def _volumes() -> set[str]:
    out = subprocess.run(["docker", "volume", "ls", "--quiet"], capture_output=True, text=True, env=_clean_env())
    return set(out.stdout.split())


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise CheckFailed(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(1)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _clean_env() -> dict[str, str]:
    """This environment without the stack's variables, so only the env file configures the stack."""
    ours = ("MT5_", "CELERY_", "REDIS_", "FLOWER_", "RABBITMQ_", "GRAFANA_", "PROMETHEUS_", "HEALTHCHECK_")
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)}


def write_env(path: Path, values: dict[str, str]) -> None:
    example = (ROOT / ".env.example").read_text()  # the documented start: cp .env.example .env
    path.write_text(example + "\n# compose-check\n" + "".join(f"{k}={v}\n" for k, v in values.items()))


def docker_problem() -> str | None:
    """Why no Docker daemon and Compose v2 can be used here, or ``None``."""
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    if info.returncode != 0:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        return f"no Docker daemon answers at {where}: {info.stderr.strip()[:200]}"
    compose = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=30)
    if compose.returncode != 0:
        return "the Docker Compose v2 plugin is not installed"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-grafana", action="store_true", help="also start Grafana (its image must be pullable)")
    parser.add_argument("--no-cache", action="store_true", help="build the image from scratch")
    args = parser.parse_args(argv)
    problem = docker_problem()
    if problem is not None:
        print(f"compose-check: {problem}", file=sys.stderr)
        return 2
    project = f"mt5check-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="mt5-compose-check-"))
    env_file = work / "stack.env"
    auth = f"check:{secrets.token_urlsafe(12)}"
    rabbit = secrets.token_urlsafe(18)
    base = {"FLOWER_BASIC_AUTH": auth, "RABBITMQ_PASSWORD": rabbit,
            "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(12), "MT5_BRIDGE_TOKEN": secrets.token_urlsafe(24),
            "HEALTHCHECK_INTERVAL": "3s", "MT5_ENV_FILE": str(env_file)}  # fmt: skip
    write_env(env_file, base)
    check = Check(project, env_file)
    build_options = ["--no-cache"] if args.no_cache else []
    services = [*STACK, *(["grafana"] if args.with_grafana else [])]
    profiles = ["--profile", "bridge", "--profile", "rabbitmq", "--profile", "monitoring", "--profile", "streams"]

    def up(workers: int) -> Callable[[], Any]:
        return lambda: check.compose(*profiles, "up", "-d", "--wait", "--scale", f"worker={workers}", *services)

    started = time.monotonic()
    versions = (subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                               text=True).stdout.strip(),
                subprocess.run(["docker", "compose", "version", "--short"], capture_output=True,
                               text=True).stdout.strip())  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    host = os.environ.get("DOCKER_HOST", "(default)")
    print(
        f"compose-check {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, project {project}, "
        f"Docker {versions[0]}, Compose {versions[1]}, DOCKER_HOST={host}"
    )
    if not args.with_grafana:
        print("   Grafana's service is left out (--with-grafana adds it where its image can be pulled)")
    ok = False
    try:
        check.step("build the image", lambda: check.compose("build", *build_options, timeout=1800))
        check.step("refused without the required secrets", lambda: check.refusals(base))
        check.step("the image runs the installed package", check.image_runs_the_installed_package)
        check.step("up: every profile, 3 workers, on Redis", up(3))
        check.step("healthy", lambda: check.healthy(3))
        check.step("3 workers registered (mt5-worker status)", lambda: check.registered(3))
        check.step("a plain Celery client through the published Redis port", check.plain_redis_client)
        check.step("Flower behind basic auth", lambda: check.flower(auth))
        check.step("Prometheus scrapes 3 workers and 2 feeds, rules loaded", lambda: check.prometheus(3))
        amqp = base | {"CELERY_BROKER_URL": f"amqp://mt5:{rabbit}@rabbitmq:5672/mt5", "MT5_BACKEND": "bridge"}
        write_env(env_file, amqp)
        check.step("up again: queues on RabbitMQ, the terminal behind the bridge", up(1))
        check.step("healthy", lambda: check.healthy(1))
        check.step("the worker's terminal is behind the bridge", check.bridged)
        check.step("plain Celery clients through the published RabbitMQ port", lambda: check.rabbitmq_clients(rabbit))
        ok = True
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        logs = check.compose("--profile", "*", "logs", "--no-color", "--tail", "30", check=False)
        print(logs.stdout[-6000:], file=sys.stderr)
    finally:
        try:
            check.step("down: nothing left", check.down)
        except CheckFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            ok = False
        shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - started
    print("\n| step | seconds |\n|---|---|")
    for name, seconds in check.timings:
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    print("compose-check: " + ("every check passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
