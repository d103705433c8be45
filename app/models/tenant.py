from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class Tenant(Base):
    """A business using the platform. `credit_balance` always equals the sum of its ledger."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("credit_balance >= 0", name="credit_balance_non_negative"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    # The owner's id in the system that signs businesses up (the original design's user_id).
    user_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # credits.low fires once when the balance falls to this; the flag re-arms above it.
    credits_low_threshold: Mapped[int | None] = mapped_column(BigInteger)
    credits_low_notified: Mapped[bool] = mapped_column(default=False, server_default="false")
    # After a top-up, answer the customers skipped for no_credits whose window is still open.
    answer_after_top_up: Mapped[bool] = mapped_column(default=True, server_default="true")
    created_at: Mapped[datetime] = created_at()
