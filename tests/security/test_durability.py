"""A committed row survives a crash of the embedded Postgres that `mca run` starts.

The webhook answers 200 only after its row is committed, and Meta never redelivers after a 200,
so "committed" has to mean "on disk": the servers `mca run` starts are durable. Only the test
suite's throw-away servers (`durable=False`) trade that for speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from app.cli.devservers import services, start_services

pytestmark = pytest.mark.timeout(120)

ROWS = 200


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder outside pytest's temporary root: a pytest session starting elsewhere on
    the machine resets that root to 0700, which the `mca-postgres` account (used when the
    tests run as root) could then no longer traverse."""
    from tests.helpers import ROOT

    path = ROOT / ".data" / "test-durability" / uuid.uuid4().hex
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _postmaster(data_dir: Path) -> int:
    return int(json.loads((data_dir / "services.json").read_text())["postgres"]["pid"])


def _crash_postgres(data_dir: Path) -> None:
    """The postmaster and every backend (and the WAL writer) killed at once."""
    pid = _postmaster(data_dir)
    os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid)


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


def test_every_acknowledged_row_survives_a_postgres_crash(data_dir: Path) -> None:
    svc = start_services(data_dir)  # what `mca run` and every other mca command start
    try:
        assert asyncio.run(_settings(svc.database_url)) == {
            "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
        acked = asyncio.run(_commit_rows(svc.database_url))
        # The crash: the postmaster and every backend (and the WAL writer) killed at once,
        # right after the last acknowledgement.
        _crash_postgres(data_dir)
    finally:
        svc.stop()
    # Restarted on the same data folder: crash recovery replays the WAL.
    with services(data_dir) as again:
        assert again.owned
        assert asyncio.run(_stored(again.database_url)) == acked


def test_only_throw_away_servers_trade_durability_for_speed(data_dir: Path) -> None:
    with services(data_dir, durable=False) as svc:
        assert asyncio.run(_settings(svc.database_url)) == {
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        assert json.loads((data_dir / "services.json").read_text())["durable"] is False


def _migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tests.helpers import ROOT

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


async def _acknowledge_webhooks(settings: Any, count: int) -> list[str]:
    """Post `count` signed WhatsApp webhooks to the real app; the wamids answered 200."""
    from app.main import create_app
    from app.runtime import open_runtime
    from tests.factories import make_world
    from tests.meta import signed, wa_message, wa_webhook

    rt = await open_runtime(settings)
    try:
        world = await make_world(rt)
    finally:
        await rt.close()
    app = create_app(settings)
    acked = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for i in range(count):
                wamid = f"wamid.durable-{i}"
                raw, headers = signed(wa_webhook(world.account_id, [wa_message("hi", wamid=wamid)]))
                r = await client.post("/webhooks/meta", content=raw, headers=headers)
                assert r.status_code == 200 and r.json()["stored"] == 1, r.text
                acked.append(wamid)
    return acked


async def _stored_wamids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT provider_message_id FROM messages "
                                "WHERE direction = 'inbound' ORDER BY provider_message_id")
        return [r[0] for r in rows]
    finally:
        await conn.close()


def test_webhooks_answered_200_survive_a_postgres_crash(data_dir: Path, settings: Any) -> None:
    """The issue's scenario: webhooks answered 200 by the app running on the embedded servers,
    the postmaster SIGKILLed, the servers restarted on the same data folder."""
    svc = start_services(data_dir)
    try:
        _migrate(svc.database_url)
        on_embedded = settings.model_copy(update={"database_url": svc.database_url,
                                                  "redis_url": svc.redis_url})
        acked = asyncio.run(_acknowledge_webhooks(on_embedded, 5))
        _crash_postgres(data_dir)
    finally:
        svc.stop()
    with services(data_dir) as again:
        assert asyncio.run(_stored_wamids(again.database_url)) == sorted(acked)
