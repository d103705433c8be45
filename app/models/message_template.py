from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class MessageTemplate(Base):
    """A WhatsApp message template as Meta last listed it for the channel's business account.

    A copy, refreshed from `GET /{waba_id}/message_templates` on demand and when Meta reports a
    template's status change; Meta stays the authority on what may be sent.
    """

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("channel_id", "name", "language"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channels.id", ondelete="CASCADE")
    )
    # Meta's template id, name and language code (e.g. "es_MX").
    provider_template_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    # APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ... as Meta words it; only APPROVED sends.
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    # Meta's `components` list (HEADER, BODY, FOOTER, BUTTONS) as listed.
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    parameter_format: Mapped[str] = mapped_column(
        String(16), default="POSITIONAL", server_default="POSITIONAL"
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
