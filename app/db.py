"""Async engine and session factory. Callers own their transactions; services never commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings, asyncpg_url
from app.errors import present

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, *, pool_size: int | None = None,
                  pool_timeout: float | None = None) -> AsyncEngine:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    url, connect_args = asyncpg_url(settings.database_url)
    engine = create_async_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=pool_timeout or settings.db_pool_timeout_s,
        # No pre-ping (a SELECT 1 on every checkout, the hot path's costliest statement):
        # connections are recycled before Neon closes idle ones instead.
        pool_recycle=240,
        # A failed statement's error must not carry its parameters: they are customers' and
        # operators' words, tokens and keys, and the error ends up in a log line.
        hide_parameters=True,
    )
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkout")
    def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A Postgres restart closes every pooled connection; asyncpg notices the closed socket
        # by itself (no round trip), and the pool replaces such a connection on checkout
        # instead of handing it out to fail. Costs a flag check per checkout, not a ping.
        if dialect.get_driver_connection(dbapi_connection).is_closed():
            raise DisconnectionError("connection closed by the server")

    return engine


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
        driver = present(raw.driver_connection, "driver connection")
        try:
            yield driver
        except BaseException as exc:
            # An error the server reported leaves the connection fit for the next statement
            # (each one commits by itself). Anything else (dropped by a server restart, a
            # statement cancelled half-way, a protocol left mid-operation) could hand the
            # next user a broken connection: it does not go back into the pool.
            if driver.is_closed() or not isinstance(exc, asyncpg.PostgresError):
                await conn.invalidate()
            raise


async def session_driver(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`'s transaction, for hand-written statements
    inside it. Call it after the transaction's first statement has run through the session:
    the transaction begins with that statement."""
    conn = await session.connection()
    return (await conn.get_raw_connection()).driver_connection
