"""`mca run` against external Postgres and Redis, with every key given, in a folder that has no
`.data`: it starts (it used to crash writing `.data/demo.json`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from redis import Redis

from tests.helpers import free_port, stop_process

pytestmark = pytest.mark.timeout(240)

READY = "Ctrl-C stops everything"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def external(services: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A database and a Redis database of their own on the session's servers."""
    admin, name = services["database_url"], f"mca_run_{os.getpid()}"
    asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    redis_url = services["redis_url"].rpartition("/")[0] + "/7"
    try:
        yield admin.rpartition("/")[0] + "/" + name, redis_url
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        Redis.from_url(redis_url).flushdb()


def test_mca_run_with_external_services_and_no_data_folder(tmp_path: Path, external):
    database_url, redis_url = external
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "OPENAI_", "META_", "ADMIN_", "APP_",
                                "DATA_DIR"))}
    env.update(APP_ENV="development", DATABASE_URL=database_url, REDIS_URL=redis_url,
               APP_ENCRYPTION_KEY=Fernet.generate_key().decode(),
               ADMIN_API_KEY="admin-" + "k" * 30, PORT=str(port), LOG_LEVEL="WARNING")
    log_path = tmp_path / "run.log"
    assert not (tmp_path / ".data").exists()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", "run"], cwd=tmp_path, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while READY not in (out := log_path.read_text()):
            assert proc.poll() is None, out[-3000:]
            assert time.monotonic() < deadline, out[-3000:]
            time.sleep(0.5)
        assert "Traceback" not in out
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/readyz").json()["status"] == "ready"
        key = out.split("Demo API key ", 1)[1].split()[0]
        viewer = httpx.post(base + "/graphql", json={"query": "{ viewer { creditBalance } }"},
                            headers={"Authorization": f"Bearer {key}"}).json()
        assert viewer["data"]["viewer"]["creditBalance"] == 1000
        # The demo state (it holds the demo key) went into a data folder made for it, owner-only.
        assert (tmp_path / ".data" / "demo.json").stat().st_mode & 0o777 == 0o600
    finally:
        stop_process(proc, 60)
