"""agents: optional model, prompt variables, time zone

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column('agents', 'model', existing_type=sa.String(length=100), nullable=True)
    op.add_column('agents', sa.Column(
        'prompt_variables', postgresql.JSONB(astext_type=sa.Text()),
        server_default=sa.text("'{}'::jsonb"), nullable=False,
    ))
    op.add_column('agents', sa.Column(
        'time_zone', sa.String(length=64), server_default='UTC', nullable=False,
    ))
    op.create_check_constraint(
        op.f('ck_agents_model_or_prompt'), 'agents', 'model IS NOT NULL OR prompt_id IS NOT NULL'
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_agents_model_or_prompt'), 'agents', type_='check')
    op.drop_column('agents', 'time_zone')
    op.drop_column('agents', 'prompt_variables')
    # A prompt-only agent gets the model lead extraction falls back to.
    op.execute("UPDATE agents SET model = 'gpt-4.1-mini' WHERE model IS NULL")
    op.alter_column('agents', 'model', existing_type=sa.String(length=100), nullable=False)
