"""The send job's part for template messages: what a refused template leaves behind."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations.outbox import template_charge_key
from app.credits.service import move_credits
from app.models import Message
from app.templates.graph import template_error_title


async def settle_failed_template(session: AsyncSession, row: Message) -> None:
    """Meta refused the template (or it never left): its credits come back, and Meta's
    template error codes read as what to fix."""
    title = template_error_title(row.error_code, row.error_title)
    if title is not None:
        row.status_reason, row.error_title = "template_error", title
    amount = int(row.meta.get("credits") or 0)
    if amount > 0:
        key = template_charge_key(row.id, int(row.meta.get("charge") or 0))
        await move_credits(session, row.tenant_id, amount, "release", f"{key}:release",
                           "template not sent", row.conversation_id)
