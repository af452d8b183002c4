"""The compose file and the Dockerfile, read as files: services, settings, health checks, one beat, Flower's auth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mt5_worker.cli import worker_command
from mt5_worker.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

SERVICES: dict[str, Any] = COMPOSE["services"]

DOCKERFILE = (ROOT / "Dockerfile").read_text()

PACKAGE_SERVICES = ("worker", "beat", "flower", "bridge")  # built from this repository's image


def interpolate(value: str) -> str:
    """What compose makes of ``${NAME:-default}`` (with nothing in .env) and of ``$$``."""
    value = re.sub(r"\$\{(\w+):?-([^}]*)\}", lambda m: m.group(2), value)
    return value.replace("$$", "$")


def command(service: str) -> list[str]:
    return [interpolate(part) for part in SERVICES[service]["command"]]


def test_dockerfile_is_slim_non_root_and_installs_the_package() -> None:
    assert re.search(r"^FROM python:3\.\d+-slim", DOCKERFILE, re.M)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'pip install "\.\[flower\]"', DOCKERFILE)
    assert "COPY pyproject.toml" in DOCKERFILE
    assert '["mt5-worker", "worker"]' in DOCKERFILE


def test_exactly_one_beat() -> None:
    beats = [s for s in SERVICES if "beat" in command(s)[:2]]
    assert ["beat"] == beats
    assert 1 == SERVICES["beat"]["deploy"]["replicas"]


def test_flower_is_pinned_and_needs_basic_auth() -> None:
    pinned = {interpolate(SERVICES[s]["build"]["args"]["FLOWER_VERSION"]) for s in PACKAGE_SERVICES}
    assert 1 == len(pinned)
    (version,) = pinned
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"ARG FLOWER_VERSION={version}" in DOCKERFILE
    assert '"flower==${FLOWER_VERSION}"' in DOCKERFILE
    script = command("flower")[2]
    assert 'test -n "${FLOWER_BASIC_AUTH}" ||' in script  # refuses to start without credentials
    columns = re.search(r"--tasks_columns=(\S+)", script)  # Flower hides arguments unless asked
    assert columns and {"name", "kwargs"} <= set(columns.group(1).split(","))
    port = re.search(r"--port=(\d+)", script)
    assert port and f"127.0.0.1:{port.group(1)}/healthcheck" in " ".join(SERVICES["flower"]["healthcheck"]["test"])


def test_redis_persists_and_is_health_checked_before_the_others_start() -> None:
    redis = SERVICES["redis"]
    argv = redis["command"]
    assert "yes" == argv[argv.index("--appendonly") + 1]
    assert any(v.endswith(":/data") for v in redis["volumes"]), "the append-only file needs a volume"
    assert ["CMD", "redis-cli", "ping"] == redis["healthcheck"]["test"]
    for service in PACKAGE_SERVICES:
        assert "service_healthy" == SERVICES[service]["depends_on"]["redis"]["condition"]
        assert "redis://redis:6379/0" == SERVICES[service]["environment"]["REDIS_URL"]


def test_services_are_the_stack() -> None:
    assert {"redis", "worker", "beat", "flower", "bridge", "rabbitmq"} == set(SERVICES)
    assert ["bridge"] == SERVICES["bridge"]["profiles"]  # optional: `docker compose --profile bridge up`
    assert ["rabbitmq"] == SERVICES["rabbitmq"]["profiles"]  # optional: `docker compose --profile rabbitmq up`
    assert all("profiles" not in SERVICES[s] for s in ("redis", "worker", "beat", "flower"))


def test_settings_come_from_env_and_name_real_variables() -> None:
    known = {env_name(field) for field in Settings.model_fields}
    for service in PACKAGE_SERVICES:
        assert [{"path": ".env", "required": False}] == SERVICES[service]["env_file"]
        for name in SERVICES[service]["environment"]:
            assert name in known, f"{service} sets {name}, which Settings does not read"


def test_the_rabbitmq_profile_is_persistent_health_checked_and_waited_for_when_enabled() -> None:
    rabbitmq = SERVICES["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.\d+-alpine", rabbitmq["image"])  # quorum queues: 3.8+, quorum delayed delivery
    assert "rabbitmq" == rabbitmq["hostname"]  # its data lives under its node name: fixed across re-creations
    assert ["rabbitmq-data:/var/lib/rabbitmq"] == rabbitmq["volumes"]
    assert "rabbitmq-diagnostics" in rabbitmq["healthcheck"]["test"]
    env = rabbitmq["environment"]
    assert "guest" != env["RABBITMQ_DEFAULT_USER"]  # RabbitMQ lets guest in from localhost only
    assert "${RABBITMQ_PASSWORD:-}" == env["RABBITMQ_DEFAULT_PASS"]
    script = rabbitmq["command"][2]
    assert 'test -n "$${RABBITMQ_DEFAULT_PASS}" ||' in script  # refuses to start without a password
    assert script.endswith("exec docker-entrypoint.sh rabbitmq-server")
    for service in PACKAGE_SERVICES:  # waited for only when the profile is on (Compose 2.20+: required: false)
        assert {"condition": "service_healthy", "required": False} == SERVICES[service]["depends_on"]["rabbitmq"]


def test_worker_runs_one_task_at_a_time_and_scales_with_distinct_terminal_ids() -> None:
    worker = SERVICES["worker"]
    argv = command("worker")
    assert ["mt5-worker", "worker"] == argv[:2]
    assert "--concurrency=1" in worker_command(argv[2:])
    assert not any(a.startswith(("--concurrency", "-c", "--autoscale", "--pool")) for a in argv[2:])
    # No fixed name: each replica is celery@<its container hostname>, which is also its terminal id.
    assert not any(a.startswith(("-n", "--hostname")) for a in argv[2:])
    assert not {"hostname", "container_name"} & set(worker)
    assert "MT5_WORKER_ID" not in worker["environment"] and "MT5_TERMINAL_ID" not in worker["environment"]
    assert "simulator" == interpolate(worker["environment"]["MT5_BACKEND"])
    assert ["CMD", "mt5-worker", "health"] == worker["healthcheck"]["test"]
