"""Conversations built through the real services, and the extraction steps run directly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.conversations.service import add_message, open_conversation, upsert_contact
from app.db import transaction
from app.effects import flush, take
from app.models import Channel, Conversation
from workers.leads import due, extract_lead

VALID = {
    "name": "Ana López", "email": "ana@Acme.MX", "company": "Acme", "intent": "Buy 40 seats",
    "urgency": 3, "budget": 2, "fit": 3, "engagement": 2,
    "demo_at": "2026-12-02T15:00:00-06:00", "demo_timezone": "America/Mexico_City",
    "notification": "Ana from Acme wants 40 seats; demo booked Tuesday 3pm.",
}


async def new_conversation(rt: Any, channel_id: uuid.UUID, agent_id: uuid.UUID | None,
                           customer: str = "5215512345678") -> uuid.UUID:
    async with transaction(rt.sessions) as s:
        channel = await s.get(Channel, channel_id)
        assert channel is not None
        contact = await upsert_contact(s, channel, customer, wa_id=customer)
        return await open_conversation(s, channel, agent_id, contact)


async def say(rt: Any, cid: uuid.UUID, *texts: str, role: str = "customer") -> int:
    """Append answered customer messages (or sent replies with role="ai"); returns last seq."""
    async with transaction(rt.sessions) as s:
        conv = await s.get(Conversation, cid)
        assert conv is not None
        seq = 0
        for text in texts:
            inbound = role == "customer"
            m = await add_message(
                s, conv, direction="inbound" if inbound else "outbound", sender_role=role,
                type="text", text=text, status="answered" if inbound else "sent",
                provider_timestamp=datetime.now(UTC) if inbound else None,
            )
            seq = m.seq
    await flush(take(s), rt.redis)
    return seq


async def run_due(rt: Any, now: datetime) -> dict[str, str]:
    """What one scan interval does, with the jobs run here instead of by a worker."""
    outcomes = {}
    for cid, seq in await due(rt, now):
        outcomes[str(cid)] = await extract_lead({"rt": rt}, str(cid), seq, now=now)
    return outcomes
