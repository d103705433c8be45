"""The team inbox's rules: operators and their keys, assignment, status, snoozes, read
markers and typing signals. Services take a session and never commit; events go out after
the caller's commit (app/effects.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import events
from app.conversations.service import get_conversation
from app.effects import emit
from app.errors import BadUserInput, Conflict, Forbidden, NotFound, ValidationFailed
from app.models import ApiKey, Conversation, ConversationRead, Operator
from app.tenants import service as tenants

ROLES = ("admin", "agent")
STATUSES = ("open", "pending", "resolved", "snoozed")
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 320
# A snooze ends within a year; an operator who means "forever" resolves instead.
MAX_SNOOZE = timedelta(days=366)
# How long a typing signal holds without being repeated (the console repeats it while typing).
TYPING_TTL_S = 6


# --- operators -----------------------------------------------------------------------------

async def get_operator(
    session: AsyncSession, tenant_id: uuid.UUID, operator_id: uuid.UUID
) -> Operator | None:
    return await session.scalar(
        select(Operator).where(Operator.id == operator_id, Operator.tenant_id == tenant_id)
    )


async def list_operators(session: AsyncSession, tenant_id: uuid.UUID) -> list[Operator]:
    return list((await session.scalars(
        select(Operator).where(Operator.tenant_id == tenant_id)
        .order_by(Operator.name, Operator.id)
    )).all())


async def require_manager(
    session: AsyncSession, tenant_id: uuid.UUID, operator_id: uuid.UUID | None
) -> None:
    """Operators are managed by the tenant's machine keys and by its admin operators."""
    if operator_id is None:
        return
    me = await get_operator(session, tenant_id, operator_id)
    if me is None or me.role != "admin" or me.deactivated_at is not None:
        raise Forbidden("only an admin operator (or a tenant key without an operator) may "
                        "manage operators")


def _clean_operator(name: str, email: str, role: str) -> tuple[str, str, str]:
    name, email = name.strip(), email.strip().lower()
    if not name:
        raise ValidationFailed("name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be at most {MAX_NAME_CHARS} characters")
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > MAX_EMAIL_CHARS:
        raise BadUserInput("email must be an e-mail address")
    if role not in ROLES:
        raise BadUserInput("role must be ADMIN or AGENT")
    return name, email, role


async def create_operator(
    session: AsyncSession, tenant_id: uuid.UUID, *, name: str, email: str, role: str,
    max_keys: int | None = None,
) -> tuple[Operator, ApiKey, str]:
    """A new operator with a first API key (the plain key is returned once)."""
    name, email, role = _clean_operator(name, email, role)
    taken = await session.scalar(select(Operator.id).where(
        Operator.tenant_id == tenant_id, Operator.email == email))
    if taken is not None:
        raise Conflict(f"an operator with the e-mail {email} exists already")
    op = Operator(id=uuid.uuid4(), tenant_id=tenant_id, name=name, email=email, role=role)
    session.add(op)
    await session.flush()
    await session.refresh(op)
    key, plain = await tenants.create_api_key(
        session, tenant_id, f"operator {email}", max_keys=max_keys, operator_id=op.id)
    return op, key, plain


async def create_operator_key(
    session: AsyncSession, tenant_id: uuid.UUID, operator_id: uuid.UUID, *,
    max_keys: int | None = None,
) -> tuple[ApiKey, str]:
    op = await get_operator(session, tenant_id, operator_id)
    if op is None:
        raise NotFound("operator")
    if op.deactivated_at is not None:
        raise ValidationFailed("the operator is deactivated")
    return await tenants.create_api_key(
        session, tenant_id, f"operator {op.email}", max_keys=max_keys, operator_id=op.id)


async def deactivate_operator(
    session: AsyncSession, tenant_id: uuid.UUID, operator_id: uuid.UUID
) -> Operator:
    """The operator left the team: every live key of theirs is revoked (their websockets close
    on every API process) and their open conversations are unassigned, each with its event.
    Messages they wrote still name them. Deactivating twice changes nothing more."""
    op = await session.scalar(
        select(Operator).where(Operator.id == operator_id, Operator.tenant_id == tenant_id)
        .with_for_update()
    )
    if op is None:
        raise NotFound("operator")
    if op.deactivated_at is not None:
        return op
    op.deactivated_at = func.now()
    keys = (await session.scalars(select(ApiKey.id).where(
        ApiKey.operator_id == op.id, ApiKey.revoked_at.is_(None)))).all()
    for key_id in keys:
        await tenants.revoke_api_key(session, tenant_id, key_id)
    released = (await session.scalars(
        update(Conversation)
        .where(Conversation.tenant_id == tenant_id, Conversation.assignee_id == op.id,
               Conversation.archived_at.is_(None))
        .values(assignee_id=None).returning(Conversation)
    )).all()
    for conv in released:
        emit(session, str(tenant_id), events.conversation_status(conv, "assignee"))
    await session.flush()
    await session.refresh(op)
    return op


# --- assignment and status -------------------------------------------------------------------

async def _conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    conv = await get_conversation(session, tenant_id, conversation_id, for_update=True)
    if conv is None:
        raise NotFound("conversation")
    if conv.archived_at is not None:
        raise ValidationFailed("conversation is archived")
    return conv


async def _changed(session: AsyncSession, conv: Conversation, change: str) -> Conversation:
    await session.flush()
    await session.refresh(conv)
    emit(session, str(conv.tenant_id), events.conversation_status(conv, change))
    return conv


async def assign(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    operator_id: uuid.UUID | None,
) -> Conversation:
    """Assign to an operator of the tenant (None: unassign). Unchanged: no event."""
    conv = await _conversation(session, tenant_id, conversation_id)
    if operator_id is not None:
        op = await get_operator(session, tenant_id, operator_id)
        if op is None:
            raise NotFound("operator")
        if op.deactivated_at is not None:
            raise ValidationFailed("the operator is deactivated")
    if conv.assignee_id == operator_id:
        return conv
    conv.assignee_id = operator_id
    return await _changed(session, conv, "assignee")


async def set_status(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, status: str,
    *, snoozed_until: datetime | None = None,
) -> Conversation:
    """open, pending, resolved, or snoozed until a future time. Unchanged: no event."""
    if status not in STATUSES:
        raise BadUserInput("status must be OPEN, PENDING, RESOLVED or SNOOZED")
    if status == "snoozed":
        if snoozed_until is None:
            raise BadUserInput("until: a snooze needs the time it ends")
        if snoozed_until.tzinfo is None:
            snoozed_until = snoozed_until.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if snoozed_until <= now:
            raise BadUserInput("until must be in the future")
        if snoozed_until > now + MAX_SNOOZE:
            raise BadUserInput("until must be within a year")
    else:
        snoozed_until = None
    conv = await _conversation(session, tenant_id, conversation_id)
    if conv.status == status and conv.snoozed_until == snoozed_until:
        return conv
    conv.status = status
    conv.snoozed_until = snoozed_until
    conv.status_changed_at = func.now()
    return await _changed(session, conv, "status")


async def end_snoozes(session: AsyncSession, *, limit: int = 500) -> int:
    """Reopen snoozed conversations whose time has come (the worker's cron), with an event
    each; the oldest first, `limit` per call, skipping rows another worker holds."""
    due = (
        select(Conversation.id)
        .where(Conversation.status == "snoozed", Conversation.snoozed_until <= func.now())
        .order_by(Conversation.snoozed_until).limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.scalars(
        update(Conversation).where(Conversation.id.in_(due.scalar_subquery()))
        .values(status="open", snoozed_until=None, status_changed_at=func.now())
        .returning(Conversation)
    )).all()
    for conv in rows:
        emit(session, str(conv.tenant_id), events.conversation_status(conv, "status"))
    return len(rows)


# --- read markers and typing ---------------------------------------------------------------

async def mark_read(
    session: AsyncSession, tenant_id: uuid.UUID, operator_id: uuid.UUID,
    conversation_id: uuid.UUID, seq: int | None,
) -> Conversation:
    """The operator has read up to `seq` (default: everything). A marker never moves back."""
    conv = await get_conversation(session, tenant_id, conversation_id)
    if conv is None:
        raise NotFound("conversation")
    if seq is not None and not 0 <= seq <= conv.last_seq:
        raise BadUserInput(f"seq must be between 0 and {conv.last_seq}")
    upto = conv.last_seq if seq is None else seq
    stmt = pg_insert(ConversationRead).values(
        operator_id=operator_id, conversation_id=conv.id, tenant_id=tenant_id,
        last_read_seq=upto,
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["operator_id", "conversation_id"],
        set_={"last_read_seq": func.greatest(ConversationRead.last_read_seq, upto),
              "read_at": func.now()},
    ))
    return conv


def typing_event(conversation_id: uuid.UUID, operator: Operator, active: bool) -> dict[str, object]:
    return {
        "type": "Typing", "conversationId": str(conversation_id), "actor": "operator",
        "operatorId": str(operator.id), "operatorName": operator.name, "active": active,
        "expiresInSeconds": TYPING_TTL_S if active else 0,
    }
