"""the team inbox: operators, their keys and read markers; conversation status and assignee

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'operators',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=16), server_default='agent', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'agent')", name=op.f('ck_operators_role')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_operators_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    )
    op.create_index('uq_operators_tenant_id_email', 'operators', ['tenant_id', 'email'], unique=True)
    op.create_table(
        'conversation_reads',
        sa.Column('operator_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('conversation_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tenant_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('last_read_seq', sa.Integer(), server_default='0', nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_reads_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_conversation_reads_operator_id_operators'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversation_reads_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('operator_id', 'conversation_id', name=op.f('pk_conversation_reads')),
    )
    op.create_index(op.f('ix_conversation_reads_conversation_id'), 'conversation_reads', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_conversation_reads_tenant_id'), 'conversation_reads', ['tenant_id'], unique=False)

    op.add_column('api_keys', sa.Column('operator_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.create_index(op.f('ix_api_keys_operator_id'), 'api_keys', ['operator_id'], unique=False)
    op.create_foreign_key(op.f('fk_api_keys_operator_id_operators'), 'api_keys', 'operators', ['operator_id'], ['id'], ondelete='CASCADE')

    op.add_column('messages', sa.Column('operator_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(op.f('fk_messages_operator_id_operators'), 'messages', 'operators', ['operator_id'], ['id'], ondelete='SET NULL')

    op.add_column('conversations', sa.Column('status', sa.String(length=16), server_default='open', nullable=False))
    op.add_column('conversations', sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('conversations', sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('conversations', sa.Column('assignee_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column('conversations', sa.Column('last_inbound_seq', sa.Integer(), server_default='0', nullable=False))
    op.create_check_constraint(op.f('ck_conversations_status'), 'conversations', "status IN ('open', 'pending', 'resolved', 'snoozed')")
    op.create_index(op.f('ix_conversations_assignee_id'), 'conversations', ['assignee_id'], unique=False)
    op.create_index('ix_conversations_snoozed_until', 'conversations', ['snoozed_until'], unique=False, postgresql_where=sa.text("status = 'snoozed'"))
    op.create_foreign_key(op.f('fk_conversations_assignee_id_operators'), 'conversations', 'operators', ['assignee_id'], ['id'], ondelete='SET NULL')
    # Conversations from before: the customer's latest message, so unread counts start right.
    op.execute(
        "UPDATE conversations c SET last_inbound_seq = m.seq FROM ("
        " SELECT conversation_id, max(seq) AS seq FROM messages WHERE direction = 'inbound'"
        " GROUP BY conversation_id) m WHERE m.conversation_id = c.id"
    )


def downgrade() -> None:
    op.drop_constraint(op.f('fk_conversations_assignee_id_operators'), 'conversations', type_='foreignkey')
    op.drop_index('ix_conversations_snoozed_until', table_name='conversations', postgresql_where=sa.text("status = 'snoozed'"))
    op.drop_index(op.f('ix_conversations_assignee_id'), table_name='conversations')
    op.drop_constraint(op.f('ck_conversations_status'), 'conversations', type_='check')
    op.drop_column('conversations', 'last_inbound_seq')
    op.drop_column('conversations', 'assignee_id')
    op.drop_column('conversations', 'status_changed_at')
    op.drop_column('conversations', 'snoozed_until')
    op.drop_column('conversations', 'status')
    op.drop_constraint(op.f('fk_messages_operator_id_operators'), 'messages', type_='foreignkey')
    op.drop_column('messages', 'operator_id')
    op.drop_constraint(op.f('fk_api_keys_operator_id_operators'), 'api_keys', type_='foreignkey')
    op.drop_index(op.f('ix_api_keys_operator_id'), table_name='api_keys')
    op.drop_column('api_keys', 'operator_id')
    op.drop_index(op.f('ix_conversation_reads_tenant_id'), table_name='conversation_reads')
    op.drop_index(op.f('ix_conversation_reads_conversation_id'), table_name='conversation_reads')
    op.drop_table('conversation_reads')
    op.drop_index('uq_operators_tenant_id_email', table_name='operators')
    op.drop_table('operators')
