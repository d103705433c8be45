"""search indexes: trigram indexes for the conversations search, scoped by tenant

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:10:00.000000

`conversations(filter: {search})` matches a contact's profile name or external id anywhere in
the text (`ILIKE '%term%'`), which no b-tree serves: over 100,000 contacts a search was a
sequential scan of the tenant's contacts (~110 ms). A GIN index of trigrams finds the
candidates; with btree_gin the tenant id is part of the same index, so one tenant's search
never wades through another tenant's matches. Both extensions ship with PostgreSQL's contrib
modules (and are available on Neon).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        'ix_contacts_tenant_id_profile_name_trgm', 'contacts', ['tenant_id', 'profile_name'],
        unique=False, postgresql_using='gin', postgresql_ops={'profile_name': 'gin_trgm_ops'},
    )
    op.create_index(
        'ix_contacts_tenant_id_external_id_trgm', 'contacts', ['tenant_id', 'external_id'],
        unique=False, postgresql_using='gin', postgresql_ops={'external_id': 'gin_trgm_ops'},
    )


def downgrade() -> None:
    op.drop_index('ix_contacts_tenant_id_external_id_trgm', table_name='contacts')
    op.drop_index('ix_contacts_tenant_id_profile_name_trgm', table_name='contacts')
    # The extensions stay: other objects of the database may use them.
