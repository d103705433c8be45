from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk
from app.models.states import ReservationState, sql_list


class CreditLedgerEntry(Base):
    """Append-only. A tenant's balance is the sum of its entries' deltas."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
        Index("ix_credit_ledger_tenant_id_created_at", "tenant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    delta: Mapped[int] = mapped_column(BigInteger)
    # grant, reserve, release
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # Makes every debit and credit safe to retry: a re-run cannot apply it twice.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()


class CreditReservation(Base):
    """Credits held for one inbound batch: reserved → committed (sent) or released (failed)."""

    __tablename__ = "credit_reservations"
    __table_args__ = (
        CheckConstraint(f"state IN {sql_list(ReservationState)}", name="state"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_credit_reservations_state_created_at", "state", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # conversation id + last inbound seq of the batch: one reservation per batch.
    batch_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.RESERVED)
    created_at: Mapped[datetime] = created_at()
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
