"""docker-compose.yml and the Dockerfile point at the package's real entry points, with the operations rules:
Redis persistent and health-checked, workers at concurrency 1 that scale with distinct ids, exactly one beat,
a pinned Flower behind basic auth, optional profiles (RabbitMQ, a bridge, monitoring). Its commands are run with
``--help``; ``docker compose config`` validates it where the compose plugin exists; where a Docker daemon
answers, ``scripts/compose_check.py`` runs the stack for real (the file itself: tests/unit/test_compose_file.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import clean_environ
from scripts.compose_check import docker_problem
from tests.unit.test_compose_file import PACKAGE_SERVICES, ROOT, SERVICES, command

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures


def entry_point(argv: list[str]) -> list[str]:
    """The package command a service runs, also when wrapped in ``sh -c '... ; exec CMD'``."""
    if argv[:2] == ["sh", "-c"]:
        return argv[2].rsplit("exec ", 1)[1].split()
    return argv


def run_help(argv: list[str]) -> subprocess.Popen[str]:
    """Start ``argv --help`` with this interpreter: ``mt5-worker`` is ``python -m mt5_worker.cli``."""
    if argv[0] == "mt5-worker":
        argv = [sys.executable, "-m", "mt5_worker.cli", *argv[1:]]
    elif argv[0] == "celery":
        argv = [sys.executable, "-m", "celery", *argv[1:]]
    clean = clean_environ()
    return subprocess.Popen(
        [*argv, "--help"], env=clean, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_every_command_and_healthcheck_is_a_real_entry_point() -> None:
    argvs = [entry_point(command(s)) for s in PACKAGE_SERVICES]
    argvs.append(SERVICES["worker"]["healthcheck"]["test"][1:])
    for argv in argvs:
        assert argv[0] in ("mt5-worker", "celery"), argv
        if argv[0] == "celery":
            assert ["-A", "mt5_worker.worker.app"] == argv[1:3], argv
    started = [(argv, run_help(argv)) for argv in argvs]  # in parallel: each is an interpreter start-up
    for argv, process in started:
        out, _ = process.communicate(timeout=60)
        assert 0 == process.returncode, f"{' '.join(argv)} --help failed:\n{out}"
        assert "usage" in out.lower(), out


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return 0 == subprocess.run(["docker", "compose", "version"], capture_output=True).returncode


@pytest.mark.skipif(not _compose_available(), reason="the docker compose plugin is not installed")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    env = tmp_path / "stack.env"
    env.write_text("FLOWER_BASIC_AUTH=admin:secret\n")
    for profile in ([], ["--profile", "bridge"], ["--profile", "rabbitmq"], ["--profile", "monitoring"]):
        result = subprocess.run(["docker", "compose", "--env-file", str(env), *profile, "config", "--quiet"],
                                cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        assert 0 == result.returncode, result.stderr
    env.write_text("")
    result = subprocess.run(["docker", "compose", "--env-file", str(env), "config", "--quiet"], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert 0 != result.returncode and "set FLOWER_BASIC_AUTH=user:password" in result.stderr


@pytest.mark.timeout(1600)
def test_compose_check_runs_the_stack_for_real() -> None:
    """``make compose-check`` on the Docker daemon DOCKER_HOST names: build, every profile up and checked, down,
    nothing left (minutes: it runs only where a daemon answers)."""
    problem = docker_problem()
    if problem is not None:
        pytest.skip(f"compose-check needs a Docker daemon and Compose v2: {problem}")
    result = subprocess.run([sys.executable, "scripts/compose_check.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=1500)  # fmt: skip
    assert 0 == result.returncode, result.stdout[-4000:] + result.stderr[-4000:]
    assert "compose-check: every check passed" in result.stdout
