"""Team inbox cron: snoozed conversations whose time has come are OPEN again."""

from __future__ import annotations

import logging
from typing import Any

from app.db import transaction
from app.effects import flush_committed, take
from app.inbox.service import end_snoozes
from app.runtime import Runtime

log = logging.getLogger("workers.inbox")

SNOOZE_BATCH = 500
MAX_BATCHES = 20


async def wake_snoozed(ctx: dict[str, Any], *, batch: int = SNOOZE_BATCH) -> int:
    """Cron: reopen every conversation snoozed until a time that has passed, with an event."""
    rt: Runtime = ctx["rt"]
    total = 0
    for _ in range(MAX_BATCHES):
        async with transaction(rt.sessions) as session:
            n = await end_snoozes(session, limit=batch)
        await flush_committed(take(session), rt.redis)
        total += n
        if n < batch:
            break
    if total:
        log.info("%d snoozed conversations are open again", total)
    return total
