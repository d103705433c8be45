"""Real-process tests for app.cli.devservers (self-contained: no conftest fixtures)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
import redis

from app.cli.devservers import Services, services, start_services
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


def _gone(pid: int) -> bool:
    # PID 1 in a container may not reap re-parented children, so a zombie counts as gone.
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in pids):
        assert time.monotonic() < deadline, f"still alive: {[p for p in pids if not _gone(p)]}"
        time.sleep(0.05)


def _port_open(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _pids(data_dir: Path) -> list[int]:
    state = json.loads((data_dir / "services.json").read_text())
    return [state["postgres"]["pid"], state["valkey"]["pid"]]


def _sql(url: str, query: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(run())


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_start_query_and_stop(tmp_path: Path) -> None:
    svc = start_services(tmp_path)
    try:
        assert svc.owned
        assert svc.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert svc.database_url.endswith("/mca")
        assert svc.redis_url.startswith("redis://127.0.0.1:") and svc.redis_url.endswith("/0")
        assert _sql(svc.database_url, "SELECT 1") == 1
        assert _ping(svc.redis_url)
        pids = _pids(tmp_path)
        assert not any(_gone(p) for p in pids)
    finally:
        svc.stop()
    _wait_gone(pids)
    assert not _port_open(svc.database_url) and not _port_open(svc.redis_url)
    assert not (tmp_path / "services.json").exists()
    svc.stop()  # idempotent


def test_explicit_ports_and_second_database(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    with services(tmp_path, pg_port=ports[0], redis_port=ports[1]) as svc:
        assert svc.database_url == f"postgresql://postgres@127.0.0.1:{ports[0]}/mca"
        assert svc.redis_url == f"redis://127.0.0.1:{ports[1]}/0"
        other = start_services(tmp_path, database="mca_test")
        assert not other.owned
        assert other.database_url.endswith(f":{ports[0]}/mca_test")
        assert _sql(other.database_url, "SELECT current_database()") == "mca_test"


def test_second_caller_joins_without_owning(tmp_path: Path) -> None:
    with services(tmp_path) as owner:
        pids = _pids(tmp_path)
        joined = start_services(tmp_path)
        assert joined == Services(owner.database_url, owner.redis_url, owned=False)
        joined.stop()
        assert not any(_gone(p) for p in pids)
        assert _sql(owner.database_url, "SELECT 1") == 1
        assert _ping(owner.redis_url)
    _wait_gone(pids)


def test_data_persists_across_restart(tmp_path: Path) -> None:
    with services(tmp_path) as svc:
        _sql(svc.database_url, "CREATE TABLE kept AS SELECT 42 AS v")
        redis.Redis.from_url(svc.redis_url).set("queued", "job")
    with services(tmp_path) as svc:
        assert svc.owned
        assert _sql(svc.database_url, "SELECT v FROM kept") == 42
        assert redis.Redis.from_url(svc.redis_url).get("queued") == b"job"


def test_stale_state_after_servers_killed(tmp_path: Path) -> None:
    """SIGKILLed servers leave services.json and postmaster.pid behind; a new start recovers."""
    svc = start_services(tmp_path)
    pids = _pids(tmp_path)
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)
    _wait_gone(pids)
    assert (tmp_path / "postgres" / "postmaster.pid").exists()
    try:
        with services(tmp_path) as again:
            assert again.owned
            assert _sql(again.database_url, "SELECT 1") == 1
            assert _ping(again.redis_url)
    finally:
        svc.stop()


def test_start_from_short_lived_thread_survives_thread_exit(tmp_path: Path) -> None:
    # PDEATHSIG is tied to the forking thread; the module must not fork from this thread.
    box: list[Services] = []
    worker = threading.Thread(target=lambda: box.append(start_services(tmp_path)))
    worker.start()
    worker.join()
    svc = box[0]
    try:
        time.sleep(0.3)
        assert not any(_gone(p) for p in _pids(tmp_path))
        assert _sql(svc.database_url, "SELECT 1") == 1
    finally:
        svc.stop()


OWNER_SCRIPT = """
import json, signal, sys, time
from pathlib import Path
from app.cli.devservers import start_services
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
# Ctrl-C's behaviour even when started from a shell that ignores SIGINT in background jobs (a
# child inherits the ignored disposition, and Python then installs no KeyboardInterrupt).
signal.signal(signal.SIGINT, signal.default_int_handler)
svc = start_services(Path(sys.argv[1]))
state = json.loads((Path(sys.argv[1]) / "services.json").read_text())
print(json.dumps([state["postgres"]["pid"], state["valkey"]["pid"]]), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_orphans_when_owner_dies(tmp_path: Path, sig: signal.Signals) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        pids = json.loads(owner.stdout.readline())
        assert not any(_gone(p) for p in pids)
        # Backends (children of the postmaster) must go too, not only the postmaster.
        children = [c.pid for c in psutil.Process(pids[0]).children(recursive=True)]
        owner.send_signal(sig)
        owner.wait(timeout=10)
        _wait_gone(pids + children)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    # And the data dir is immediately reusable by a fresh owner.
    with services(tmp_path) as svc:
        assert svc.owned
        assert _sql(svc.database_url, "SELECT 1") == 1
