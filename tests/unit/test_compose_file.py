"""The compose file and the Dockerfile, read as files: services, settings, health checks, one beat, Flower's auth,
published ports, refused secrets, the monitoring profile, an image that installs the built wheel."""

from __future__ import annotations

import json
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


GUARDS = {"require-rabbitmq-password": "RABBITMQ_PASSWORD", "require-bridge-token": "MT5_BRIDGE_TOKEN",
          "require-grafana-password": "GRAFANA_ADMIN_PASSWORD"}  # fmt: skip


def test_services_are_the_stack() -> None:
    assert {"redis", "worker", "beat", "flower", "feed", "bridge", "rabbitmq", "prometheus", "grafana",
            *GUARDS} == set(SERVICES)  # fmt: skip
    assert ["bridge"] == SERVICES["bridge"]["profiles"]  # optional: `docker compose --profile bridge up`
    assert ["streams"] == SERVICES["feed"]["profiles"]  # optional: two feeds, one leading
    assert ["rabbitmq"] == SERVICES["rabbitmq"]["profiles"]  # optional: `docker compose --profile rabbitmq up`
    assert ["monitoring"] == SERVICES["prometheus"]["profiles"] == SERVICES["grafana"]["profiles"]
    assert all("profiles" not in SERVICES[s] for s in ("redis", "worker", "beat", "flower"))


def test_published_ports_are_on_loopback_and_free_unless_asked() -> None:
    """The stack starts on a machine that already runs Redis or RabbitMQ: no fixed host port by default."""
    published = {name: service["ports"] for name, service in SERVICES.items() if "ports" in service}
    assert {"redis", "flower", "rabbitmq", "prometheus", "grafana"} == set(published)
    for name, ports in published.items():
        (port,) = ports
        match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+)_PORT:-\}:(\d+)", port)
        assert match, f"{name} publishes {port!r}"
        assert "127.0.0.1::" + match.group(2) == interpolate(port)  # Docker picks a free port
    assert "ports" not in SERVICES["worker"] and "9100" == str(SERVICES["worker"]["environment"]["MT5_METRICS_PORT"])


def test_required_secrets_are_refused_at_up_with_the_reason() -> None:
    """Flower's credentials by compose itself (the default stack needs them); a profile's by a one-shot check the
    profile's service waits for: compose's ${VAR:?} would refuse the whole file, whatever the profiles."""
    flower = SERVICES["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    assert flower.startswith("${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password")
    others = json.dumps({k: v for k, v in SERVICES.items() if k != "flower"})
    assert ":?" not in others
    needs = {"require-rabbitmq-password": "rabbitmq", "require-bridge-token": "bridge",
             "require-grafana-password": "grafana"}  # fmt: skip
    for guard, variable in GUARDS.items():
        service = SERVICES[guard]
        assert service["profiles"] == SERVICES[needs[guard]]["profiles"] and "no" == service["restart"]
        assert f'test -n "$${variable}" ||' in service["entrypoint"][2] and "exit 64" in service["entrypoint"][2]
        assert {"condition": "service_completed_successfully"} == SERVICES[needs[guard]]["depends_on"][guard]


def test_the_rabbitmq_profile_is_persistent_health_checked_and_waited_for_when_enabled() -> None:
    rabbitmq = SERVICES["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.\d+-alpine", rabbitmq["image"])  # quorum queues: 3.8+, quorum delayed delivery
    assert "rabbitmq" == rabbitmq["hostname"]  # its data lives under its node name: fixed across re-creations
    assert ["rabbitmq-data:/var/lib/rabbitmq"] == rabbitmq["volumes"]
    assert "rabbitmq-diagnostics" in rabbitmq["healthcheck"]["test"]
    env = rabbitmq["environment"]
    assert "guest" != env["RABBITMQ_DEFAULT_USER"]  # RabbitMQ lets guest in from localhost only
    assert "${RABBITMQ_PASSWORD:-}" == env["RABBITMQ_DEFAULT_PASS"]  # never empty: see the guards' test
    assert "command" not in rabbitmq  # the image's own entry point
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


def test_exactly_one_beat() -> None:
    beats = [s for s in SERVICES if "command" in SERVICES[s] and "beat" in command(s)[:2]]
    assert ["beat"] == beats
    assert 1 == SERVICES["beat"]["deploy"]["replicas"]


def test_redis_persists_and_is_health_checked_before_the_others_start() -> None:
    redis = SERVICES["redis"]
    argv = redis["command"]
    assert "yes" == argv[argv.index("--appendonly") + 1]
    assert any(v.endswith(":/data") for v in redis["volumes"]), "the append-only file needs a volume"
    assert ["CMD", "redis-cli", "ping"] == redis["healthcheck"]["test"]
    for service in PACKAGE_SERVICES:
        assert "service_healthy" == SERVICES[service]["depends_on"]["redis"]["condition"]
        assert "redis://redis:6379/0" == SERVICES[service]["environment"]["REDIS_URL"]


def test_flower_is_pinned_and_needs_basic_auth() -> None:
    pinned = {interpolate(SERVICES[s]["build"]["args"]["FLOWER_VERSION"]) for s in PACKAGE_SERVICES}
    assert 1 == len(pinned)
    (version,) = pinned
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"ARG FLOWER_VERSION={version}" in DOCKERFILE
    assert '"flower==${FLOWER_VERSION}"' in DOCKERFILE
    script = " ".join(command("flower"))
    assert "FLOWER_BASIC_AUTH" in SERVICES["flower"]["environment"]  # required: see the secrets' test
    columns = re.search(r"--tasks_columns=(\S+)", script)  # Flower hides arguments unless asked
    assert columns and {"name", "kwargs"} <= set(columns.group(1).split(","))
    port = re.search(r"--port=(\d+)", script)
    assert port and f"127.0.0.1:{port.group(1)}/healthcheck" in " ".join(SERVICES["flower"]["healthcheck"]["test"])


def test_settings_come_from_env_and_name_real_variables() -> None:
    known = {env_name(field) for field in Settings.model_fields}
    compose_only = {"flower": {"FLOWER_BASIC_AUTH"}}  # read by Flower itself
    for service in PACKAGE_SERVICES:
        assert [{"path": "${MT5_ENV_FILE:-.env}", "required": False}] == SERVICES[service]["env_file"]
        assert ".env" == interpolate(SERVICES[service]["env_file"][0]["path"])
        for name in SERVICES[service]["environment"]:
            assert name in known | compose_only.get(service, set()), f"{service} sets {name}, which no one reads"


def test_dockerfile_installs_the_built_wheel_in_a_clean_slim_non_root_stage() -> None:
    """The source is copied into the build stage only: the image imports the installed package, never a second
    copy in its working directory (compose_check.py checks it in the built image)."""
    stages = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    assert 2 == len(stages) and all(re.match(r"python:3\.\d+-slim", stage) for stage in stages)
    build, final = stages
    assert build.split()[2] == "build" and "pip wheel --no-deps --wheel-dir /wheels ." in build
    assert "COPY mt5_worker" in build and "COPY pyproject.toml" in build
    assert not re.search(r"^COPY (?!--from=build /wheels)", final, re.M), "the final stage copies source"
    assert '"${wheel}[flower]"' in final and "rm -rf /wheels" in final
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert '["mt5-worker", "worker"]' in final


def test_the_monitoring_profile_scrapes_every_worker_with_the_projects_rules_and_dashboard() -> None:
    prometheus = SERVICES["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])  # pinned
    mounts = {v.split(":")[0]: v.split(":")[1] for v in prometheus["volumes"]}
    assert "/etc/prometheus/rules" == mounts["./monitoring/prometheus/rules"]
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    assert ["/etc/prometheus/rules/mt5-worker.rules.yml"] == config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"mt5-worker", "mt5-feed"} == set(jobs)  # the rules' and the dashboard's jobs
    (workers,) = jobs["mt5-worker"]["dns_sd_configs"]
    assert (["worker"], 9100) == (workers["names"], workers["port"])  # every replica of the worker service
    (feeds,) = jobs["mt5-feed"]["dns_sd_configs"]
    assert (["feed"], 9101) == (feeds["names"], feeds["port"])  # both feeds (the streams profile)
    assert "9101" == str(SERVICES["feed"]["environment"]["MT5_METRICS_PORT"])
    grafana = SERVICES["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert "/etc/grafana/provisioning" == mounts["./monitoring/grafana/provisioning"]
    assert "/var/lib/grafana/dashboards" == mounts["./monitoring/grafana/dashboards"]
    assert {"condition": "service_healthy"} == grafana["depends_on"]["prometheus"]
