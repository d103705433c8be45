"""Conversation lifecycle cron: hourly context expiry, in batches, one transaction each."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from app.conversations.lifecycle import EXPIRY_BATCH, expire_idle_contexts
from app.db import transaction
from app.effects import flush_committed, take
from app.runtime import Runtime

log = logging.getLogger("workers.lifecycle")

# Bounds one run; anything left over is at most an hour late, picked up by the next run.
MAX_BATCHES = 40


async def expire_contexts(
    ctx: dict[str, Any], now: datetime | None = None, *, batch: int = EXPIRY_BATCH
) -> int:
    """Cron: expire the model context of conversations idle for CONTEXT_TTL_DAYS."""
    rt: Runtime = ctx["rt"]
    now = now or datetime.now(UTC)
    total = 0
    for _ in range(MAX_BATCHES):
        async with transaction(rt.sessions) as session:
            n = await expire_idle_contexts(session, now, rt.settings.context_ttl_days, limit=batch)
        # The boundary messages are announced only once they are committed.
        await flush_committed(take(session), rt.redis)
        total += n
        if n < batch:
            break
    if total:
        log.info("expired the model context of %d idle conversations", total)
    return total
