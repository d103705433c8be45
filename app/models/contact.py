from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class Contact(Base):
    """A customer as seen by one channel."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        # The dashboard's search (ILIKE '%term%' on either column, within one tenant): GIN
        # trigram indexes with the tenant id in them (pg_trgm + btree_gin, migration 0003).
        Index(
            "ix_contacts_tenant_id_profile_name_trgm", "tenant_id", "profile_name",
            postgresql_using="gin", postgresql_ops={"profile_name": "gin_trgm_ops"},
        ),
        Index(
            "ix_contacts_tenant_id_external_id_trgm", "tenant_id", "external_id",
            postgresql_using="gin", postgresql_ops={"external_id": "gin_trgm_ops"},
        ),
        # The contacts list, newest first.
        Index("ix_contacts_tenant_id_created_at", "tenant_id", "created_at", "id"),
        Index(
            "ix_contacts_tenant_id_name_trgm", "tenant_id", "name",
            postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channels.id", ondelete="CASCADE")
    )
    # The id replies are addressed to: wa_id, business-scoped user id, IGSID or web visitor id.
    external_id: Mapped[str] = mapped_column(String(128))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    business_user_id: Mapped[str | None] = mapped_column(String(128))
    profile_name: Mapped[str | None] = mapped_column(String(200))
    # Set by the tenant's team (updateContact); the provider's profile name never overwrites it.
    name: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
