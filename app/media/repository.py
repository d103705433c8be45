"""Queries for kept files, always scoped by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.media.links import signed_path
from app.models import Attachment


async def attachments_of(session: AsyncSession, tenant_id: uuid.UUID,
                         message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attachment]]:
    found: dict[uuid.UUID, list[Attachment]] = {}
    if not message_ids:
        return found
    rows = (await session.scalars(
        select(Attachment).where(Attachment.tenant_id == tenant_id,
                                 Attachment.message_id.in_(list(message_ids)))
        .order_by(Attachment.message_id, Attachment.position)
    )).all()
    for a in rows:
        if a.message_id is not None:
            found.setdefault(a.message_id, []).append(a)
    return found


def visitor_view(a: Attachment, settings: Settings) -> dict[str, Any]:
    """What a web chat visitor sees of a file: its kind, type and a signed link (relative to
    the API's origin); never the transcript, errors or storage details."""
    return {"kind": a.kind, "mimeType": a.mime_type, "fileName": a.file_name,
            "url": signed_path(settings, a.id, a.tenant_id) if a.storage_key else None}
