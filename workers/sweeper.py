"""The sweeper: wakes every conversation whose pending messages nobody is working on.

Jobs only say "conversation C has work"; Postgres says what the work is. So a lost job, a
flushed Redis or a killed worker costs one sweep interval, not arq's in-progress expiry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.effects import enqueue_wakeups
from app.locks import live_leases
from app.metrics import PENDING_MESSAGES
from app.models import Message
from app.runtime import Runtime
from workers.process import ordering_key

log = logging.getLogger("workers.sweeper")

SWEEP_LIMIT = 5000


async def stranded(rt: Runtime) -> list[uuid.UUID]:
    """Conversations with messages pending for a while whose ordering key has no live lease."""
    age = timedelta(seconds=rt.settings.sweeper_min_age_s)
    async with rt.sessions() as session:
        rows = (await session.execute(
            select(Message.conversation_id, Message.channel_id)
            .where(Message.status.in_(("received", "processing")),
                   Message.created_at < func.now() - age)
            .group_by(Message.conversation_id, Message.channel_id)
            .limit(SWEEP_LIMIT)
        )).all()
        if not rows:
            return []
        keys = {cid: ordering_key(rt, cid, chid) for cid, chid in rows}
        live = await live_leases(session, list(set(keys.values())))
    woken: dict[str, uuid.UUID] = {}
    for cid, key in keys.items():
        if key not in live:
            woken.setdefault(key, cid)
    return list(woken.values())


SWEEP_LOCK = "mca:sweeper"


async def sweep_forever(rt: Runtime) -> None:
    """Runs beside the job slots, so a worker saturated with long jobs still sweeps.

    Every worker runs one; a short Redis lock lets one of them sweep per interval.
    """
    interval = rt.settings.sweeper_interval_s
    while True:
        try:
            if await rt.redis.set(SWEEP_LOCK, b"1", nx=True, px=int(interval * 1000 * 0.9)):
                await sweep({"rt": rt})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(interval)


async def sweep(ctx: dict[str, Any]) -> int:
    rt: Runtime = ctx["rt"]
    conversations = await stranded(rt)
    if conversations:
        await enqueue_wakeups(rt.redis, [str(c) for c in conversations], force=True)
        log.info("sweeper woke %d conversations", len(conversations))
    async with rt.sessions() as session:
        pending = await session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.status.in_(("received", "processing")))
        )
    PENDING_MESSAGES.set(int(pending or 0))
    return len(conversations)
