from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Label(Base):
    """A tenant's label for conversations (e.g. "VIP", "billing"), with a display colour."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(50))
    # #rrggbb
    color: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = created_at()


class ConversationLabel(Base):
    """A label on a conversation. Deleting either removes it."""

    __tablename__ = "conversation_labels"
    __table_args__ = (
        # The conversations filter: the conversations carrying one label.
        Index("ix_conversation_labels_label_id", "label_id", "conversation_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = created_at()
