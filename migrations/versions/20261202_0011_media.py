"""media: attachments kept by the platform, the agent's fallback text

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('conversation_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('message_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('position', sa.Integer(), server_default='0', nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('mime_type', sa.String(length=128), nullable=True),
        sa.Column('file_name', sa.String(length=255), nullable=True),
        sa.Column('size_bytes', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('caption', sa.Text(), nullable=True),
        sa.Column('transcript', sa.Text(), nullable=True),
        sa.Column('storage_key', sa.String(length=300), nullable=True),
        sa.Column('error', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_attachments_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_attachments_message_id_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_attachments_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
        sa.UniqueConstraint('message_id', 'position', name=op.f('uq_attachments_message_id_position')),
    )
    op.create_index('ix_attachments_tenant_id_conversation_id', 'attachments', ['tenant_id', 'conversation_id'], unique=False)
    op.add_column('agents', sa.Column('media_fallback_text', sa.Text(), nullable=True))
    op.add_column('agents', sa.Column('media_credits', sa.Integer(), server_default='0', nullable=False))
    op.create_check_constraint(op.f('ck_agents_media_credits_non_negative'), 'agents', 'media_credits >= 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_agents_media_credits_non_negative'), 'agents', type_='check')
    op.drop_column('agents', 'media_credits')
    op.drop_column('agents', 'media_fallback_text')
    op.drop_index('ix_attachments_tenant_id_conversation_id', table_name='attachments')
    op.drop_table('attachments')
