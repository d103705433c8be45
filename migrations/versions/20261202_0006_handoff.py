"""the agent's hand-off to a person

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('agents', sa.Column('handoff_enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('conversations', sa.Column('handoff_requested_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('conversations', sa.Column('handoff_reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.drop_column('conversations', 'handoff_reason')
    op.drop_column('conversations', 'handoff_requested_at')
    op.drop_column('agents', 'handoff_enabled')
