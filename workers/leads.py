"""Lead extraction: a scan every minute, one `extract_lead` job per quiet conversation.

A conversation is due when it has been quiet for EXTRACTION_IDLE_MINUTES and has messages
past its extraction pointer. The scan only enqueues; the job re-reads everything by id and
gives up if the conversation moved on since the scan (it is not quiet any more; a later scan
picks it up). Job ids are (conversation, last seq), so overlapping scans never run the same
extraction twice at once, and the pointer's compare-and-set makes a duplicate store nothing.

Both functions take an optional `now` so tests drive the clock instead of sleeping.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db import transaction
from app.effects import flush_committed, take
from app.leads import repository
from app.leads.extraction import (
    DEFAULT_MODEL,
    ExtractionFailed,
    TranscriptLine,
    build_input,
    extract,
)
from app.leads.service import record_extraction, skip_range
from app.models import Agent, Conversation, Lead, Message
from app.pipeline.breaker import BreakerOpen
from app.runtime import Runtime

log = logging.getLogger("workers.leads")

SCAN_LIMIT = 500
# A model that keeps answering garbage for one conversation would otherwise be called every
# minute forever. After this many invalid answers for the same messages it waits for new
# ones. (API outages do not count: the breaker handles those, and they pass.)
INVALID_LIMIT = 5
INVALID_TTL_S = 86_400
JOB = "extract_lead"


def invalid_key(conversation_id: uuid.UUID | str, through_seq: int) -> str:
    return f"mca:lead:invalid:{conversation_id}:{through_seq}"


async def due(rt: Runtime, now: datetime) -> list[tuple[uuid.UUID, int]]:
    """Conversations to extract now: quiet long enough, new messages, not given up on."""
    idle = timedelta(minutes=rt.settings.extraction_idle_minutes)
    async with rt.sessions() as session:
        rows = await repository.due_for_extraction(session, now - idle, SCAN_LIMIT)
    if not rows:
        return []
    counts = await rt.redis.mget([invalid_key(cid, seq) for cid, seq in rows])
    return [row for row, n in zip(rows, counts, strict=True) if int(n or 0) < INVALID_LIMIT]


async def scan_lead_extraction(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """Cron: enqueue an extraction for every due conversation. Returns how many were new."""
    rt: Runtime = ctx["rt"]
    work = await due(rt, now or datetime.now(UTC))
    enqueued = 0
    for cid, seq in work:
        job = await rt.redis.enqueue_job(JOB, str(cid), seq, _job_id=f"lead:{cid}:{seq}")
        enqueued += job is not None
    if work:
        log.info("lead extraction: %d due, %d enqueued", len(work), enqueued)
    return enqueued


def _previous(lead: Lead | None) -> dict[str, Any] | None:
    if lead is None:
        return None
    return {
        "name": lead.name, "email": lead.email, "company": lead.company, "intent": lead.intent,
        "urgency": lead.urgency, "budget": lead.budget, "fit": lead.fit,
        "engagement": lead.engagement,
        "demo_at": lead.demo_at.isoformat() if lead.demo_at else None,
        "demo_timezone": lead.demo_timezone, "notification": lead.notification,
    }


def _line(m: Message) -> TranscriptLine:
    at = m.provider_timestamp or m.created_at
    return TranscriptLine(m.seq, at.astimezone(UTC), m.sender_role, m.text or f"[{m.type}]")


async def extract_lead(
    ctx: dict[str, Any], conversation_id: str, through_seq: int, now: datetime | None = None
) -> str:
    """Extract messages (pointer, through_seq] of one conversation. Returns the outcome."""
    rt: Runtime = ctx["rt"]
    now = now or datetime.now(UTC)
    cid = uuid.UUID(conversation_id)
    async with rt.sessions() as session:
        conv = await session.get(Conversation, cid)
        if conv is None:
            return "missing"
        if conv.extracted_through_seq >= through_seq:
            return "done"
        if conv.last_seq != through_seq:
            return "stale"
        start = conv.extracted_through_seq
        messages = [
            m for m in await repository.transcript(session, cid, through_seq)
            # A reply that never reached the customer is not part of what they were told.
            if not (m.direction == "outbound" and m.status == "failed")
        ]
        previous = await repository.latest_lead(session, conv.tenant_id, cid)
        agent = await session.get(Agent, conv.agent_id) if conv.agent_id else None
        # A prompt-only agent names no model here (its prompt does): the default extracts.
        model = (agent.model if agent is not None else None) or DEFAULT_MODEL
        tenant_id = conv.tenant_id

    if not any(m.seq > start for m in messages):
        # Only system markers (a context reset) since the last extraction: nothing to read.
        async with transaction(rt.sessions) as session:
            await skip_range(session, cid, expected_through=start, to_seq=through_seq)
        return "nothing_new"

    items = build_input([_line(m) for m in messages], start + 1, _previous(previous), now)
    try:
        result = await extract(rt, model, items, metadata={
            "conversation_id": str(cid), "tenant_id": str(tenant_id), "purpose": "lead",
        })
    except BreakerOpen:
        return "breaker_open"
    except ExtractionFailed as exc:
        if exc.invalid:
            key = invalid_key(cid, through_seq)
            await rt.redis.incr(key)
            await rt.redis.expire(key, INVALID_TTL_S)
        log.warning("lead extraction failed for conversation %s (through %d): %s",
                    cid, through_seq, exc)
        return exc.reason

    async with transaction(rt.sessions) as session:
        lead = await record_extraction(session, cid, expected_through=start, to_seq=through_seq,
                                       result=result, model=model)
    await flush_committed(take(session), rt.redis)
    return "stored" if lead is not None else "raced"
