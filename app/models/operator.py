from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Operator(Base):
    """A person who works the tenant's inbox. Their API keys (api_keys.operator_id) say who
    is calling; a key without an operator is a machine's."""

    __tablename__ = "operators"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'agent')", name="role"),
        # E-mail addresses are stored lower-cased: one person, one operator per tenant.
        Index("uq_operators_tenant_id_email", "tenant_id", "email", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    created_at: Mapped[datetime] = created_at()
    # Left the team: their keys are revoked and nothing new is assigned to them; what they
    # wrote still names them.
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConversationRead(Base):
    """How far an operator has read a conversation: messages after last_read_seq are unread."""

    __tablename__ = "conversation_reads"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True,
        index=True,
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    read_at: Mapped[datetime] = created_at()
