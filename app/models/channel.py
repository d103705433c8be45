from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk
from app.models.states import ChannelKind, ChannelStatus, sql_list

CHANNEL_KINDS = tuple(ChannelKind)
CHANNEL_STATUSES = tuple(ChannelStatus)


class Channel(Base):
    """A connected business account: a WhatsApp number, an Instagram account or a web widget."""

    __tablename__ = "channels"
    __table_args__ = (
        CheckConstraint(f"kind IN {sql_list(ChannelKind)}", name="kind"),
        CheckConstraint(f"status IN {sql_list(ChannelStatus)}", name="status"),
        # One live channel per provider account; deleted channels keep their history.
        Index(
            "uq_channels_kind_provider_account_live",
            "kind",
            "provider_account_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_channels_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    # phone_number_id (WhatsApp), Instagram account id, or the widget's public id.
    provider_account_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Fernet ciphertext of the provider access token; never stored or returned in clear.
    access_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(
        String(16), default=ChannelStatus.ACTIVE, server_default=ChannelStatus.ACTIVE.value
    )
    # Per-kind options, e.g. {"allowed_origins": [...]} for web chat.
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
