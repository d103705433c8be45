"""a reply costs at least one credit

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 13:50:00

An agent at 0 credits per reply let a tenant with no credits get replies paid by the
platform's model key. Such agents are raised to 1 and the table refuses 0 from now on.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE agents SET credits_per_reply = 1 WHERE credits_per_reply < 1")
    op.drop_constraint(op.f('ck_agents_credits_per_reply_non_negative'), 'agents', type_='check')
    op.create_check_constraint(
        op.f('ck_agents_credits_per_reply_positive'), 'agents', 'credits_per_reply >= 1'
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_agents_credits_per_reply_positive'), 'agents', type_='check')
    op.create_check_constraint(
        op.f('ck_agents_credits_per_reply_non_negative'), 'agents', 'credits_per_reply >= 0'
    )
