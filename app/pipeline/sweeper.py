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

from sqlalchemy import func, or_, select, update

from app.conversations import events
from app.db import transaction
from app.effects import emit, enqueue_wakeups, flush_committed, take
from app.metrics import PENDING_MESSAGES
from app.models import Message
from app.models.states import MessageDirection, MessageStatus
from app.outages import DEPENDENCIES, is_outage, which
from app.pipeline.batch import ordering_key
from app.pipeline.lock import live_leases
from app.runtime import Runtime

log = logging.getLogger("app.pipeline.sweeper")

SWEEP_LIMIT = 5000


async def stranded(rt: Runtime) -> list[uuid.UUID]:
    """Conversations with messages pending for a while whose ordering key has no live lease."""
    age = timedelta(seconds=rt.settings.sweeper_min_age_s)
    async with rt.sessions() as session:
        rows = (await session.execute(
            select(Message.conversation_id, Message.channel_id)
            .where(Message.status.in_((MessageStatus.RECEIVED, MessageStatus.PROCESSING)),
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
                DEPENDENCIES.up("postgres")
            DEPENDENCIES.up("redis")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_outage(exc):
                # Logged once per outage (and its end); the next sweep after it catches up.
                DEPENDENCIES.down(which(exc), exc)
            else:
                log.exception("sweep failed")
        await asyncio.sleep(interval)


# A send that has been "sending" this long belongs to a worker that died mid-request.
SENDING_TIMEOUT = timedelta(minutes=2)


async def sweep_outbox(rt: Runtime) -> int:
    """Operator messages and retries whose send job was lost get a new one; sends cut off by a
    dead worker become `unknown` (they may have reached the customer: never resent blindly)."""
    age = timedelta(seconds=rt.settings.sweeper_min_age_s)
    async with transaction(rt.sessions) as session:
        lost = list((await session.scalars(
            select(Message.id).where(
                Message.status == MessageStatus.PENDING, Message.direction == MessageDirection.OUTBOUND,
                Message.status_reason.is_(None), Message.updated_at < func.now() - age,
                or_(Message.reply_to_seq.is_(None), Message.meta.has_key("retry_n")),
            ).limit(SWEEP_LIMIT)
        )).all())
        cut_off = (await session.scalars(
            update(Message)
            .where(Message.status == MessageStatus.PENDING, Message.status_reason == "sending",
                   Message.updated_at < func.now() - SENDING_TIMEOUT)
            .values(status=MessageStatus.UNKNOWN, status_reason=None)
            .returning(Message)
        )).all()
        for m in cut_off:
            emit(session, str(m.tenant_id), events.message_status_changed(m))
    await flush_committed(take(session), rt.redis)
    for mid in lost:
        await rt.redis.enqueue_job("send_message", str(mid))
    return len(lost) + len(cut_off)


async def sweep(ctx: dict[str, Any]) -> int:
    rt: Runtime = ctx["rt"]
    await sweep_outbox(rt)
    conversations = await stranded(rt)
    if conversations:
        # A conversation whose job is still waiting in the queue is not woken twice.
        woken = await enqueue_wakeups(rt.redis, [str(c) for c in conversations], force=True)
        if woken:
            log.info("sweeper woke %d conversations", woken)
    async with rt.sessions() as session:
        pending = await session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.status.in_((MessageStatus.RECEIVED, MessageStatus.PROCESSING)))
        )
    PENDING_MESSAGES.set(int(pending or 0))
    return len(conversations)
