"""notes and labels on conversations; a contact's name and notes set by the tenant's team

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:00:00

Notes are a table of their own, not messages: nothing that builds the model's context or sends
to a channel reads it. A contact's `name` is the team's, beside the provider's `profile_name`
(which every inbound message refreshes); its trigram index serves the contacts search like the
two of migration 0007, and (tenant_id, created_at, id) the contacts list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'labels',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('color', sa.String(length=7), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_labels_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_labels')),
        sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_labels_tenant_id_name')),
    )
    op.create_table(
        'conversation_labels',
        sa.Column('conversation_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('label_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_labels_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['label_id'], ['labels.id'], name=op.f('fk_conversation_labels_label_id_labels'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversation_labels_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('conversation_id', 'label_id', name=op.f('pk_conversation_labels')),
    )
    op.create_index('ix_conversation_labels_label_id', 'conversation_labels', ['label_id', 'conversation_id'], unique=False)
    op.create_table(
        'conversation_notes',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('conversation_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('api_key_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_conversation_notes_api_key_id_api_keys'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_notes_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversation_notes_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes')),
    )
    op.create_index('ix_conversation_notes_conversation_id_created_at', 'conversation_notes', ['conversation_id', 'created_at', 'id'], unique=False)
    op.add_column('contacts', sa.Column('name', sa.String(length=200), nullable=True))
    op.add_column('contacts', sa.Column('notes', sa.Text(), nullable=True))
    op.create_index('ix_contacts_tenant_id_created_at', 'contacts', ['tenant_id', 'created_at', 'id'], unique=False)
    op.create_index(
        'ix_contacts_tenant_id_name_trgm', 'contacts', ['tenant_id', 'name'],
        unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
    )


def downgrade() -> None:
    op.drop_index('ix_contacts_tenant_id_name_trgm', table_name='contacts')
    op.drop_index('ix_contacts_tenant_id_created_at', table_name='contacts')
    op.drop_column('contacts', 'notes')
    op.drop_column('contacts', 'name')
    op.drop_index('ix_conversation_notes_conversation_id_created_at', table_name='conversation_notes')
    op.drop_table('conversation_notes')
    op.drop_index('ix_conversation_labels_label_id', table_name='conversation_labels')
    op.drop_table('conversation_labels')
    op.drop_table('labels')
