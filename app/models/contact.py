from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, literal_column
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk

# What the contact search matches a term in: the team's name, the provider's profile name and
# the external id, joined by spaces; written as PostgreSQL prints the index's expression, so
# that a migration check compares equal. A statement that searches says `SEARCH_TEXT ILIKE $n`
# (the planner matches the expression to the index) and checks each column on the rows found,
# since a term can span two of them ("ann 47" would match the name "Ann" beside the profile
# name "47 Street").
SEARCH_TEXT = (
    "((((COALESCE(name, ''::character varying)::text || ' '::text)"
    " || COALESCE(profile_name, ''::character varying)::text) || ' '::text)"
    " || COALESCE(external_id, ''::character varying)::text)"
)


class Contact(Base):
    """A customer as seen by one channel."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        # The dashboard's search (SEARCH_TEXT ILIKE '%term%' within one tenant): one GIN
        # trigram index with the tenant id in it (pg_trgm + btree_gin, migration 0013).
        Index(
            "ix_contacts_tenant_id_search_trgm", "tenant_id", literal_column(SEARCH_TEXT).label("search"),
            postgresql_using="gin", postgresql_ops={"search": "gin_trgm_ops"},
        ),
        # The contacts list, newest first.
        Index("ix_contacts_tenant_id_created_at", "tenant_id", "created_at", "id"),
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
