"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the structure the
deployment relies on, and the health-check commands run for real against the app and a worker.
(`.ci/run` also runs `docker compose config` wherever an engine is available.)"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, free_port, running_worker, wait_for

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Any] = doc["services"]
    return found


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")


def test_every_service_is_there(compose):
    assert set(compose) == {"postgres", "redis", "migrate", "api", "worker"}


def test_postgres_16_and_redis_7_are_health_checked(compose):
    assert compose["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in str(compose["postgres"]["healthcheck"]["test"])
    assert compose["redis"]["image"].startswith("redis:7")
    assert "ping" in str(compose["redis"]["healthcheck"]["test"])


def test_redis_never_evicts_queued_work(compose):
    args = compose["redis"]["command"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"


def test_migrate_runs_once_after_postgres_is_healthy(compose):
    m = compose["migrate"]
    assert _command(m) == "mca migrate"
    assert m["restart"] == "no"
    assert m["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(("name", "command"), [("api", "mca serve --host 0.0.0.0"),
                                               ("worker", "mca worker")])
def test_two_replicas_start_after_migration_and_healthy_stores(compose, name, command):
    s = compose[name]
    assert _command(s).startswith(command)
    assert s["deploy"]["replicas"] == 2
    deps = s["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert s["healthcheck"]["test"][0] == "CMD"
    assert s["image"] == compose["migrate"]["image"]  # one image, three roles
    env = s["environment"]
    assert "postgres:5432" in env["DATABASE_URL"] and "redis:6379" in env["REDIS_URL"]


def test_api_is_ready_checked_and_workers_export_metrics(compose):
    assert "/readyz" in str(compose["api"]["healthcheck"]["test"])
    port = compose["worker"]["environment"]["WORKER_METRICS_PORT"]
    assert f":{port}/metrics" in str(compose["worker"]["healthcheck"]["test"])


def test_dockerfile_is_multi_stage_slim_and_non_root():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M | re.I)
    assert len(stages) >= 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, flags=re.M)
    runtime = text[text.rindex("\nFROM "):]
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # No compilers in the final image: build tools are installed in the builder stage only.
    assert "build-essential" not in runtime and "pip wheel" not in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".data", ".git", ".env"} <= set(ignored)


def _check_command(service: dict[str, Any], port: int) -> list[str]:
    """The service's health-check, pointed at `port` (the container's port is fixed)."""
    test = list(service["healthcheck"]["test"])
    assert test[0] == "CMD" and test[1] == "python"
    script = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", test[-1])
    return [sys.executable, *test[2:-1], script]


def _exit_code(cmd: list[str]) -> int:
    return subprocess.run(cmd, capture_output=True, timeout=20).returncode



async def test_api_health_check_passes_on_a_ready_app_and_fails_without_one(compose, live):
    cmd = _check_command(compose["api"], live.port)
    assert await asyncio.to_thread(_exit_code, cmd) == 0
    live.stop()
    assert await asyncio.to_thread(_exit_code, cmd) != 0


async def test_worker_health_check_passes_once_the_worker_is_up(compose, runtime):
    port = free_port()
    cmd = _check_command(compose["worker"], port)
    assert await asyncio.to_thread(_exit_code, cmd) != 0
    settings = runtime.settings.model_copy(update={"worker_metrics_port": port})
    async with running_worker(settings):

        async def healthy() -> bool:
            return await asyncio.to_thread(_exit_code, cmd) == 0

        await wait_for(healthy, timeout=15, interval=0.2)
