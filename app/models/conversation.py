from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk
from app.models.states import ConversationMode, sql_list


class Conversation(Base):
    """One customer talking to one channel. Archived conversations are read-only."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(f"mode IN {sql_list(ConversationMode)}", name="mode"),
        CheckConstraint(
            "status IN ('open', 'pending', 'resolved', 'snoozed')", name="status"
        ),
        # Snoozes that end: the worker's end_snoozes scans only snoozed conversations.
        Index(
            "ix_conversations_snoozed_until",
            "snoozed_until",
            postgresql_where=text("status = 'snoozed'"),
        ),
        # New messages go to the one open conversation of (channel, contact).
        Index(
            "uq_conversations_channel_id_contact_id_open",
            "channel_id",
            "contact_id",
            unique=True,
            postgresql_where=text("archived_at IS NULL"),
        ),
        # The dashboard's list: most recent activity first, per tenant.
        Index("ix_conversations_tenant_id_last_activity_at", "tenant_id", "last_activity_at", "id"),
        # Context expiry scans open conversations by idleness.
        Index(
            "ix_conversations_last_activity_at_open",
            "last_activity_at",
            postgresql_where=text("archived_at IS NULL AND context_response_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("agents.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(
        String(8), default=ConversationMode.AI, server_default=ConversationMode.AI.value
    )
    # The model-context pointer: the last OpenAI response id the next turn chains onto.
    context_response_id: Mapped[str | None] = mapped_column(String(200))
    # Messages with seq <= this are outside the model context (after an expiry or reset).
    context_start_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when an operator hands back to the AI, so the next model turn is told.
    handed_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The agent asked for a person (its hand-off tool): waiting for an operator until one
    # answers or hands the conversation back.
    handoff_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handoff_reason: Mapped[str | None] = mapped_column(String(500))
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    # Lead extraction progress: messages with seq <= this have been extracted.
    extracted_through_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    # The team inbox: open, pending, resolved or snoozed (until snoozed_until); a customer
    # message reopens a resolved or snoozed conversation (app/pipeline/ingest.py).
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    # The seq of the customer's latest message: unread for an operator who read less.
    last_inbound_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
