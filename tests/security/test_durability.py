"""A committed row survives a crash of the embedded Postgres that `mca run` starts.

The webhook answers 200 only after its row is committed, and Meta never redelivers after a 200,
so "committed" has to mean "on disk": the servers `mca run` starts are durable. Only the test
suite's throw-away servers (`durable=False`) trade that for speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import asyncpg
import psutil
import pytest

from app.devservers import services, start_services

pytestmark = pytest.mark.timeout(120)

ROWS = 200


def _postmaster(data_dir: Path) -> int:
    return int(json.loads((data_dir / "services.json").read_text())["postgres"]["pid"])


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:  # a zombie under a non-reaping PID 1 counts as gone
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def _settings(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT name, setting FROM pg_settings WHERE name = ANY($1)",
                                ["fsync", "synchronous_commit", "full_page_writes"])
        return {r["name"]: r["setting"] for r in rows}
    finally:
        await conn.close()


async def _commit_rows(url: str) -> list[int]:
    """Commit ROWS rows one transaction each, as ingest does per webhook message; every id
    returned was acknowledged by the server as committed."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE acked (id int PRIMARY KEY, body text NOT NULL)")
        acked = []
        for i in range(ROWS):
            await conn.execute("INSERT INTO acked VALUES ($1, $2)", i, "x" * 200)
            acked.append(i)
        return acked
    finally:
        await conn.close()


async def _stored(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM acked ORDER BY id")]
    except asyncpg.UndefinedTableError:  # the crash took the table's creation with it
        return []
    finally:
        await conn.close()


def test_every_acknowledged_row_survives_a_postgres_crash(tmp_path: Path) -> None:
    svc = start_services(tmp_path)  # what `mca run` and every other mca command start
    try:
        assert asyncio.run(_settings(svc.database_url)) == {
            "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
        acked = asyncio.run(_commit_rows(svc.database_url))
        # The crash: the postmaster and every backend (and the WAL writer) killed at once,
        # right after the last acknowledgement.
        pid = _postmaster(tmp_path)
        os.killpg(pid, signal.SIGKILL)
        _wait_gone(pid)
    finally:
        svc.stop()
    # Restarted on the same data folder: crash recovery replays the WAL.
    with services(tmp_path) as again:
        assert again.owned
        assert asyncio.run(_stored(again.database_url)) == acked


def test_only_throw_away_servers_trade_durability_for_speed(tmp_path: Path) -> None:
    with services(tmp_path, durable=False) as svc:
        assert asyncio.run(_settings(svc.database_url)) == {
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        assert json.loads((tmp_path / "services.json").read_text())["durable"] is False
