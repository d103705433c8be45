"""`send_message`: deliver one stored outbound message (an operator's reply, or a retry).

The message is claimed by moving it from `pending` with a compare-and-set, so two runs of the
job never both send it. A retried AI reply is never charged twice: its first reservation was
released when it failed, and the retry's charge has an idempotency key of its own.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import update

from app.channels.adapters.base import OutboundMedia
from app.channels.adapters.registry import human_agent_tag, window_open
from app.channels.service import mark_needs_reauth
from app.conversations import events
from app.credits.service import move_credits as apply_credits
from app.db import transaction
from app.effects import emit, flush_committed, take
from app.errors import InsufficientCredits, present
from app.media.repository import attachments_of
from app.metrics import REPLIES_SENT
from app.models import Channel, Contact, Conversation, Message
from app.models.states import MessageDirection, MessageStatus, SenderRole
from app.pipeline.delivery import Delivery, deliver
from app.runtime import Runtime
from app.templates.sending import settle_failed_template

log = logging.getLogger("app.pipeline.send")


async def send_message(ctx: dict[str, Any], message_id: str) -> str:
    rt: Runtime = ctx["rt"]
    mid = uuid.UUID(message_id)
    async with transaction(rt.sessions) as session:
        msg = await session.scalar(
            update(Message)
            .where(Message.id == mid, Message.direction == MessageDirection.OUTBOUND,
                   Message.status == MessageStatus.PENDING,
                   Message.status_reason.is_(None))
            .values(status_reason="sending")
            .returning(Message)
        )
        if msg is None:
            return "not_pending"
        conv = present(await session.get(Conversation, msg.conversation_id), "conversation")
        channel = present(await session.get(Channel, msg.channel_id), "channel")
        contact = present(await session.get(Contact, conv.contact_id), "contact")
        refusal: str | None = None
        tag: str | None = None
        if msg.type == "template":
            pass  # what Meta accepts outside the window; its credits were debited when queued
        elif not window_open(channel.kind, conv.last_inbound_at):
            # An operator on Instagram may still answer for 7 days, tagged HUMAN_AGENT.
            tag = human_agent_tag(channel.kind, msg.sender_role, conv.last_inbound_at)
            if tag is None:
                refusal = "window_closed"
        elif msg.sender_role == SenderRole.AI and msg.meta.get("retry_charge"):
            refusal = await _charge_retry(session, msg, conv)
        if refusal is not None:
            msg.status, msg.status_reason = "failed", refusal
            emit(session, str(msg.tenant_id), events.message_status_changed(msg))
    await flush_committed(take(session), rt.redis)
    if refusal is not None:
        return refusal

    template = msg.meta.get("template") if msg.type == "template" else None
    media = (await outbound_media(rt, msg)
             if msg.type not in ("text", "template") else None)
    if media is not None and not media:
        result = Delivery("failed", [], "media_missing", "the message's files are not kept")
    else:
        result = await deliver(rt, channel, contact, msg.text or "", str(msg.id), media,
                               template=template, tag=tag)
    async with transaction(rt.sessions) as session:
        row = present(await session.get(Message, mid, with_for_update=True), "message")
        if result.outcome in ("sent", "unknown"):
            row.status = result.outcome if row.status == MessageStatus.PENDING else row.status
            row.status_reason = None
            if result.provider_ids and row.provider_message_id is None:
                row.provider_message_id = result.provider_ids[0]
            REPLIES_SENT.labels(channel.kind, row.sender_role).inc()
        else:
            row.status = MessageStatus.FAILED
            row.status_reason = "provider_error" if result.outcome == "failed" else result.outcome
            row.error_code, row.error_title = result.code, result.title
            if result.outcome == "reauth":
                await mark_needs_reauth(session, channel.id)
            if template is not None:
                await settle_failed_template(session, row)
            if row.sender_role == SenderRole.AI and row.meta.get("retry_charge"):
                await apply_credits(session, row.tenant_id, int(row.meta["retry_charge"]),
                                    "release", f"retry-release:{row.id}:{row.meta.get('retry_n')}",
                                    "retried reply not sent", row.conversation_id)
        emit(session, str(row.tenant_id), events.message_status_changed(row))
    await flush_committed(take(session), rt.redis)
    return row.status


async def _charge_retry(session: Any, msg: Message, conv: Conversation) -> str | None:
    """Debit a retried AI reply once (its original reservation was released on failure)."""
    amount = int(msg.meta["retry_charge"])
    if amount <= 0:
        return None
    try:
        async with session.begin_nested():
            await apply_credits(session, msg.tenant_id, -amount, "reserve",
                                f"retry:{msg.id}:{msg.meta.get('retry_n')}", "retried reply",
                                conv.id)
    except InsufficientCredits:
        return "no_credits"
    return None



async def outbound_media(rt: Runtime, msg: Message) -> list[OutboundMedia]:
    """An operator message's files, read from the media store; [] when any is missing."""
    async with rt.sessions() as session:
        rows = (await attachments_of(session, msg.tenant_id, [msg.id])).get(msg.id, [])
    out = []
    for a in rows:
        data = await rt.media.get(a.storage_key) if a.storage_key else None
        if data is None:
            return []
        out.append(OutboundMedia(a.kind, a.mime_type or "application/octet-stream",
                                 a.file_name, data))
    return out
