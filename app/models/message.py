from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, defer, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk
from app.models.states import (
    INBOUND_STATUSES,
    OUTBOUND_STATUSES,
    SYSTEM_STATUSES,
    MessageDirection,
    SenderRole,
    sql_list,
)

STATUSES = INBOUND_STATUSES + tuple(
    s for s in OUTBOUND_STATUSES + SYSTEM_STATUSES if s not in INBOUND_STATUSES
)


class Message(Base):
    """Every message of a conversation, in `seq` order, in both directions."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(f"direction IN {sql_list(MessageDirection)}", name="direction"),
        CheckConstraint(f"sender_role IN {sql_list(SenderRole)}", name="sender_role"),
        CheckConstraint(f"status IN {sql_list(STATUSES)}", name="status"),
        # A redelivered webhook is recognised by the provider's id, per channel.
        UniqueConstraint("channel_id", "provider_message_id"),
        UniqueConstraint("conversation_id", "seq"),
        # At most one AI reply per inbound batch, however often a job runs.
        UniqueConstraint("conversation_id", "reply_to_seq"),
        # The worker's "pending rows of C in order" and the sweeper's scan.
        Index(
            "ix_messages_pending",
            "conversation_id",
            "seq",
            postgresql_where=sql_text("status IN ('received', 'processing')"),
        ),
        Index(
            "ix_messages_pending_since",
            "created_at",
            postgresql_where=sql_text("status IN ('received', 'processing')"),
        ),
        Index("ix_messages_tenant_id_created_at", "tenant_id", "created_at"),
        # searchMessages (ILIKE '%term%' within one tenant): GIN trigrams, migration 0012.
        Index(
            "ix_messages_tenant_id_text_trgm", "tenant_id", "text",
            postgresql_using="gin", postgresql_ops={"text": "gin_trgm_ops"},
        ),
        # The sweeper's scan for outbound messages whose send job was lost.
        Index(
            "ix_messages_outbox",
            "updated_at",
            postgresql_where=sql_text("status = 'pending'"),
        ),
        # Channel-wide ordering (ORDERING_SCOPE=channel) picks the oldest pending message.
        Index(
            "ix_messages_pending_channel",
            "channel_id",
            "created_at",
            postgresql_where=sql_text("status IN ('received', 'processing')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channels.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    sender_role: Mapped[str] = mapped_column(String(8))
    # Provider type (text, image, reaction, ...) or a system marker such as context_reset.
    type: Mapped[str] = mapped_column(String(32), default="text", server_default="text")
    text: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    # Why a message was skipped or failed: human_mode, no_credits, window_closed, ...
    status_reason: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_title: Mapped[str | None] = mapped_column(Text)
    # Outbound AI reply: the last inbound seq of the batch it answers.
    reply_to_seq: Mapped[int | None] = mapped_column(Integer)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    meta: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=sql_text("'{}'::jsonb")
    )
    provider_timestamp: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    # The operator who wrote an operator message (null: a machine key, or not an operator's).
    operator_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("operators.id", ondelete="SET NULL")
    )


# A loader option for reads that never look at the provider's payload (GraphQL, the worker,
# lead extraction, the widget): the JSONB is neither fetched nor decoded, and reading it
# anyway raises instead of lazily loading.
WITHOUT_RAW = defer(Message.raw, raiseload=True)
