from __future__ import annotations

import asyncio

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import asyncpg_url
from app.models import Base
from tests.helpers import ROOT


def _cfg(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def _drift(url: str) -> list[object]:
    engine = create_async_engine(asyncpg_url(url)[0])
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    await engine.dispose()
    return list(diff)


def test_round_trip_and_no_drift(test_env):
    base = test_env["DATABASE_URL"].rpartition("/")[0]
    url = f"{base}/mca_migrations_test"

    async def recreate() -> None:
        conn = await asyncpg.connect(f"{base}/postgres")
        await conn.execute("DROP DATABASE IF EXISTS mca_migrations_test WITH (FORCE)")
        await conn.execute("CREATE DATABASE mca_migrations_test")
        await conn.close()

    asyncio.run(recreate())
    cfg = _cfg(url)
    command.upgrade(cfg, "head")
    assert {"tenants", "messages", "credit_ledger", "leads"} <= asyncio.run(_tables(url))
    command.downgrade(cfg, "base")
    assert asyncio.run(_tables(url)) == {"alembic_version"}
    command.upgrade(cfg, "head")
    assert asyncio.run(_drift(url)) == []
