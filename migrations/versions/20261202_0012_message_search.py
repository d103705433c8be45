"""message search: a trigram index on message texts, scoped by tenant

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 17:00:00.000000

`searchMessages(text)` matches a message's text anywhere (`ILIKE '%term%'`) within one
tenant, newest first. Over a million messages no b-tree serves that; the GIN trigram index
(pg_trgm, with the tenant id in it through btree_gin, both from migration 0007) finds a rare
term's few rows, and a common term is served by walking `ix_messages_tenant_id_created_at`
newest first. Built concurrently: messages is the largest table and takes writes all the time.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    with op.get_context().autocommit_block():
        op.create_index(
            'ix_messages_tenant_id_text_trgm', 'messages', ['tenant_id', 'text'], unique=False,
            postgresql_using='gin', postgresql_ops={'text': 'gin_trgm_ops'},
            postgresql_concurrently=True, if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_messages_tenant_id_text_trgm', table_name='messages',
                      postgresql_concurrently=True, if_exists=True)
