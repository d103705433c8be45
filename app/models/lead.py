from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Lead(Base):
    """One extraction of lead data from a conversation, over a range of its messages."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint("urgency BETWEEN 1 AND 3", name="urgency"),
        CheckConstraint("budget BETWEEN 1 AND 3", name="budget"),
        CheckConstraint("fit BETWEEN 1 AND 3", name="fit"),
        CheckConstraint("engagement BETWEEN 1 AND 3", name="engagement"),
        CheckConstraint("from_seq <= to_seq", name="seq_range"),
        Index("ix_leads_tenant_id_created_at", "tenant_id", "created_at", "id"),
        Index("ix_leads_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    company: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(Text)
    urgency: Mapped[int] = mapped_column(SmallInteger)
    budget: Mapped[int] = mapped_column(SmallInteger)
    fit: Mapped[int] = mapped_column(SmallInteger)
    engagement: Mapped[int] = mapped_column(SmallInteger)
    demo_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The time zone the customer named, e.g. "America/Mexico_City" or "+02:00".
    demo_timezone: Mapped[str | None] = mapped_column(String(64))
    notification: Mapped[str] = mapped_column(Text, default="")
    from_seq: Mapped[int] = mapped_column(Integer)
    to_seq: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
