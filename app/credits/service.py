"""Credits: an append-only ledger; a balance that never goes negative; reserve/commit/release.

Every movement takes the tenant row's lock with one conditional UPDATE, so concurrent workers
serialise on the balance and a reservation either fits or fails atomically.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.credits.topup import answer_skipped
from app.effects import emit
from app.errors import Conflict, InsufficientCredits, NotFound, ValidationFailed
from app.models import CreditLedgerEntry, CreditReservation, Tenant
from app.models.states import ReservationState

_MOVE = text("""
WITH t AS (
    UPDATE tenants SET credit_balance = credit_balance + :delta
    WHERE id = :tenant_id AND credit_balance + :delta >= 0
    RETURNING credit_balance
), i AS (
    INSERT INTO credit_ledger
        (id, tenant_id, delta, kind, reason, idempotency_key, balance_after, conversation_id)
    SELECT :id, :tenant_id, :delta, :kind, :reason, :key, t.credit_balance, :conversation_id
    FROM t
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING balance_after
)
SELECT (SELECT credit_balance FROM t), (SELECT balance_after FROM i)
""")


async def move_credits(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    delta: int,
    kind: str,
    key: str,
    reason: str = "",
    conversation_id: uuid.UUID | None = None,
) -> int | None:
    """Apply `delta` once per `key`. Returns the new balance, or None if the key was used.

    The balance update and its ledger entry are one statement, so the tenant row (which every
    reply of the tenant touches) is locked for as little time as possible: callers make this
    the last statement before their commit.
    """
    exists = await session.scalar(
        select(CreditLedgerEntry.balance_after).where(CreditLedgerEntry.idempotency_key == key)
    )
    if exists is not None:
        return None
    row = (await session.execute(_MOVE, {
        "id": uuid.uuid4(), "tenant_id": tenant_id, "delta": delta, "kind": kind,
        "reason": reason[:500], "key": key, "conversation_id": conversation_id,
    })).one()
    balance, inserted = row
    if balance is None:
        if await session.get(Tenant, tenant_id) is None:
            raise NotFound("tenant")
        raise InsufficientCredits("not enough credits")
    if inserted is None:
        # A concurrent transaction used the key first; the caller's rollback undoes our update.
        raise Conflict("credit movement already applied")
    emit(session, str(tenant_id), {"type": "CreditBalance", "tenantId": str(tenant_id),
                                    "balance": int(balance)})
    return int(balance)


async def grant(
    session: AsyncSession, tenant_id: uuid.UUID, amount: int, reason: str, key: str | None = None
) -> int:
    if amount <= 0:
        raise ValidationFailed("amount must be positive")
    balance = await move_credits(
        session, tenant_id, amount, "grant", key or f"grant:{uuid.uuid4()}", reason
    )
    if balance is not None:
        await answer_skipped(session, tenant_id)
    if balance is None:
        current = await session.scalar(select(Tenant.credit_balance).where(Tenant.id == tenant_id))
        return int(current or 0)
    return balance


# Reserving a reply for one inbound batch, in one statement for the worker's hot path: the
# balance moves, the reservation and its ledger entry are written, and the batch's rows become
# `processing`, or nothing at all when the balance is short. A key reserved before (its rows
# were put back after a crash) moves nothing and its rows go on under that reservation. It
# takes the tenant row's lock: the last statement before the commit. $1 tenant,
# $2 conversation, $3 batch key, $4 amount, $5 the batch's row ids, $6 reservation id,
# $7 ledger entry id.
RESERVE_BATCH = """
WITH prior AS (
    SELECT 1 FROM credit_reservations WHERE batch_key = $3
), t AS (
    UPDATE tenants SET credit_balance = credit_balance - $4
    WHERE id = $1 AND credit_balance >= $4 AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING credit_balance
), r AS (
    INSERT INTO credit_reservations (id, tenant_id, conversation_id, batch_key, amount, state)
    SELECT $6, $1, $2, $3, $4, 'reserved' FROM t
    RETURNING id
), l AS (
    INSERT INTO credit_ledger
        (id, tenant_id, delta, kind, reason, idempotency_key, balance_after, conversation_id)
    SELECT $7, $1, -$4, 'reserve', 'reply reserved', 'reserve:' || $3, t.credit_balance, $2
    FROM t WHERE $4 > 0
    RETURNING id
), m AS (
    UPDATE messages SET status = 'processing', status_reason = NULL, updated_at = now()
    WHERE id = ANY($5::uuid[]) AND (EXISTS (SELECT 1 FROM t) OR EXISTS (SELECT 1 FROM prior))
    RETURNING id
)
SELECT (SELECT credit_balance FROM t) AS balance, EXISTS (SELECT 1 FROM m) AS marked
"""


async def reserve_batch(
    conn: Any, tenant_id: uuid.UUID, conversation_id: uuid.UUID, batch_key: str, amount: int,
    row_ids: list[uuid.UUID],
) -> tuple[bool, int | None]:
    """Run RESERVE_BATCH on a driver connection inside the caller's transaction: whether the
    rows were marked `processing` (False: the balance is short), and the new balance when it
    moved."""
    row = await conn.fetchrow(RESERVE_BATCH, tenant_id, conversation_id, batch_key, amount,
                              row_ids, uuid.uuid4(), uuid.uuid4())
    return bool(row["marked"]), None if row["balance"] is None else int(row["balance"])


async def commit(session: AsyncSession, batch_key: str) -> None:
    await session.execute(
        update(CreditReservation)
        .where(CreditReservation.batch_key == batch_key, CreditReservation.state == ReservationState.RESERVED)
        .values(state=ReservationState.COMMITTED, settled_at=func.now())
    )


async def reduce_reservation(session: AsyncSession, batch_key: str, amount: int, reason: str,
                             tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    """Give back part of a batch's reservation (still `reserved`), once: the reservation's
    amount shrinks by as much as the balance grows, so a later commit or release stays exact.
    A batch run again after a crash finds the ledger entry and changes nothing."""
    key = f"reduce:{batch_key}"
    if await session.scalar(
        select(CreditLedgerEntry.id).where(CreditLedgerEntry.idempotency_key == key)
    ) is not None:
        return False
    res = await session.scalar(
        update(CreditReservation)
        .where(CreditReservation.batch_key == batch_key, CreditReservation.state == "reserved",
               CreditReservation.amount >= amount)
        .values(amount=CreditReservation.amount - amount)
        .returning(CreditReservation.id)
    )
    if res is None:
        return False
    await move_credits(session, tenant_id, amount, "release", key, reason, conversation_id)
    return True


async def release(session: AsyncSession, batch_key: str, reason: str = "reply not sent") -> bool:
    res = await session.scalar(
        update(CreditReservation)
        .where(CreditReservation.batch_key == batch_key, CreditReservation.state == ReservationState.RESERVED)
        .values(state=ReservationState.RELEASED, settled_at=func.now())
        .returning(CreditReservation)
    )
    if res is None:
        return False
    if res.amount > 0:
        await move_credits(session, res.tenant_id, res.amount, "release", f"release:{batch_key}",
                     reason, res.conversation_id)
    return True
