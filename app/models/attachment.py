from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Attachment(Base):
    """A file a message carries (a photo, a voice note, a document), kept by the platform.

    Meta's media ids expire (7 days, the download URL after 5 minutes), so the bytes are
    copied into the media store (`storage_key`) by the worker that answers the message. A
    download that failed keeps its row with `error` (media_expired, media_too_large, ...), so
    the reason is visible on the message."""

    __tablename__ = "attachments"
    __table_args__ = (
        # One row per file of a message, however often the batch runs.
        UniqueConstraint("message_id", "position"),
        Index("ix_attachments_tenant_id_conversation_id", "tenant_id", "conversation_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # None for an operator's upload not yet sent (sendOperatorMessage links it).
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # image, sticker, audio, voice, video, document
    kind: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    file_name: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    caption: Mapped[str | None] = mapped_column(Text)
    transcript: Mapped[str | None] = mapped_column(Text)
    # Where the bytes are in the media store; None when they could not be kept.
    storage_key: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
