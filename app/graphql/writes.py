"""The one way a mutation writes: a transaction, then its side effects once it committed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import outbox
from app.db import transaction
from app.effects import flush, take
from app.graphql.context import Info

log = logging.getLogger("app.graphql.writes")


@asynccontextmanager
async def write(info: Info) -> AsyncIterator[AsyncSession]:
    """`async with write(info) as session:` — services record effects; they run after commit.

    If the block raises, the transaction rolls back and the code after `yield` never runs, so
    no job, event or cache invalidation escapes a mutation that did not happen.
    """
    rt = info.context.rt
    async with transaction(rt.sessions) as session:
        yield session
    try:
        await flush(take(session), rt.redis)
        await outbox.enqueue_sends(session, rt.redis)
    except Exception:
        # The change is committed: answering with an error would invite a retry that does it
        # twice. Subscribers recover missed events from Postgres; wake-ups have the sweeper.
        log.exception("side effects of a committed mutation could not be run")


@asynccontextmanager
async def read(info: Info) -> AsyncIterator[AsyncSession]:
    """A short read-only session for one resolver (resolvers run concurrently)."""
    async with info.context.rt.sessions() as session:
        yield session
