"""What the tenant's team may change on a contact: the name it goes by, and notes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadUserInput, NotFound
from app.models import Contact

MAX_NAME_CHARS = 200
MAX_NOTES_CHARS = 4000

# "Leave as it is", as opposed to None: "clear it".
KEEP = object()


async def update_contact(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID,
    *, name: str | object | None = KEEP, notes: str | object | None = KEEP,
) -> Contact:
    """An empty or blank value clears the field, as null does."""
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.tenant_id == tenant_id)
        .with_for_update()
    )
    if contact is None:
        raise NotFound("contact")
    if name is not KEEP:
        cleaned = " ".join(str(name).split()) if name is not None else ""
        if len(cleaned) > MAX_NAME_CHARS:
            raise BadUserInput(f"input.name must be at most {MAX_NAME_CHARS} characters")
        contact.name = cleaned or None
    if notes is not KEEP:
        text = str(notes) if notes is not None else ""
        if len(text) > MAX_NOTES_CHARS:
            raise BadUserInput(f"input.notes must be at most {MAX_NOTES_CHARS} characters")
        contact.notes = text if text.strip() else None
    await session.flush()
    return contact
