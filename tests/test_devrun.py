"""`mca run` from nothing: embedded servers, migrations, demo seed, API + worker, clean stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import ROOT, free_port, stop_process

pytestmark = pytest.mark.timeout(240)


def _zero_setup_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "OPENAI_", "META_", "ADMIN_", "APP_"))}
    env.update(APP_ENV="development", DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING")
    return env


def _start(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "app", "run"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, env=_zero_setup_env(data_dir, port))


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + 180
    while "Ctrl-C stops everything" not in log_path.read_text():
        assert proc.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.5)
    return log_path.read_text()


def _child(runner: subprocess.Popen[bytes], command: str) -> psutil.Process | None:
    """The runner's live `python -m app <command>` child."""
    for c in psutil.Process(runner.pid).children():
        try:
            if c.cmdline()[-1:] == [command] and c.status() != psutil.STATUS_ZOMBIE:
                return c
        except psutil.NoSuchProcess:
            pass
    return None


def test_supervise_restarts_a_dead_child_with_backoff_and_says_so(capsys):
    from app.cli.devrun import Child, supervise

    spawned: list[subprocess.Popen[bytes]] = []

    def spawn(args: list[str]) -> subprocess.Popen[bytes]:
        spawned.append(subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"]))
        return spawned[-1]

    first = spawn([])
    supervise([Child("worker", ["worker"], first)], spawn=spawn, base_s=0.05, cap_s=0.2,
              tick_s=0.01, until=lambda: len(spawned) >= 4)
    err = capsys.readouterr().err.splitlines()
    # Each exit is said, with a wait that doubles up to the cap, then the restart.
    assert [line.split(" (pid")[0] for line in err] == [
        "mca worker exited with code 3; restarting it in 0.05s", "mca worker restarted",
        "mca worker exited with code 3; restarting it in 0.1s", "mca worker restarted",
        "mca worker exited with code 3; restarting it in 0.2s", "mca worker restarted",
    ]
    for p in spawned:
        p.wait(10)


def test_mca_run_reaches_ready_answers_and_stops_without_orphans(tmp_path):
    port = free_port()
    data_dir = tmp_path / "data"
    log_path = tmp_path / "run.log"
    proc = _start(data_dir, port, log_path)
    try:
        out = _wait_ready(proc, log_path)
        assert "SANDBOX model" in out
        for label in ("API", "GraphQL", "Console", "Demo page", "Meta webhook", "Demo API key"):
            assert label in out
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/readyz").json()["status"] == "ready"
        demo = json.loads((data_dir / "demo.json").read_text())
        assert demo["api_key"] in out
        # The admin key is this data folder's own, printed like the demo key, never a constant.
        admin_key = (data_dir / "admin.key").read_text()
        assert f"Admin key    {admin_key}\n" in out and "dev-admin-key" not in out
        viewer = httpx.post(base + "/graphql", json={"query": "{ viewer { name creditBalance } }"},
                            headers={"Authorization": f"Bearer {demo['api_key']}"}).json()
        assert viewer["data"]["viewer"]["creditBalance"] == 1000
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # postgres, valkey, the API and a worker

        # A child that dies is started again, and the runner says so.
        worker = _child(proc, "worker")
        worker.kill()
        deadline = time.monotonic() + 60
        while "mca worker restarted" not in log_path.read_text() or _child(proc, "worker") is None:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.3)
        assert "mca worker exited with code -9; restarting it in 1s" in log_path.read_text()
        restarted = _child(proc, "worker")
        assert restarted is not None and restarted.pid != worker.pid
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        assert stop_process(proc, 60), "mca run did not stop on SIGTERM within 60 s"
    gone_by = time.monotonic() + 15
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < gone_by, [c for c in children if c.is_running()]
        time.sleep(0.2)

    # A second run reuses the data: the same demo tenant and key, nothing seeded twice.
    again = _start(data_dir, port, tmp_path / "again.log")
    try:
        assert demo["api_key"] in _wait_ready(again, tmp_path / "again.log")
        r = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ channels { kind } }"},
                       headers={"Authorization": f"Bearer {demo['api_key']}"}).json()
        assert [c["kind"] for c in r["data"]["channels"]] == ["WEBCHAT"]
    finally:
        stop_process(again, 60)
