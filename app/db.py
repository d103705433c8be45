"""Async engine and session factory. Callers own their transactions; services never commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings, asyncpg_url

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, *, pool_size: int | None = None,
                  pool_timeout: float | None = None) -> AsyncEngine:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    url, connect_args = asyncpg_url(settings.database_url)
    return create_async_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=pool_timeout or settings.db_pool_timeout_s,
        # No pre-ping (a SELECT 1 on every checkout, the hot path's costliest statement):
        # connections are recycled before Neon closes idle ones instead.
        pool_recycle=240,
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on error."""
    async with factory() as session, session.begin():
        yield session


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection, outside any transaction, for the hot paths'
    hand-written statements: one statement is one round trip and commits by itself (no
    BEGIN/COMMIT around it), with asyncpg's own prepared-statement cache."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


async def session_driver(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`'s transaction, for hand-written statements
    inside it. Call it after the transaction's first statement has run through the session:
    the transaction begins with that statement."""
    conn = await session.connection()
    return (await conn.get_raw_connection()).driver_connection
