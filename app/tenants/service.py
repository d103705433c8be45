"""Tenants and their API keys."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.credits import service as credits
from app.crypto import hash_api_key, new_api_key
from app.effects import notify_processes
from app.errors import BadUserInput, LimitReached, NotFound, ValidationFailed
from app.models import ApiKey, Tenant
from app.realtime.topics import API_KEY_REVOKED
from app.tenants import repository

MAX_NAME_CHARS = 200


async def create_api_key(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, *, max_keys: int | None = None,
    operator_id: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """Returns the stored key row and the plain key, which is never retrievable again.

    `max_keys`: at most this many live (unrevoked) keys per tenant; the tenant row is locked
    first, so two concurrent creations cannot both take the last slot. `operator_id`: the key
    acts as that operator (app/inbox/operators.py checks the operator is the tenant's).
    """
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be at most {MAX_NAME_CHARS} characters")
    if await repository.lock_tenant(session, tenant_id) is None:
        raise NotFound("tenant")
    if max_keys is not None and await repository.count_live_keys(session, tenant_id) >= max_keys:
        raise LimitReached(
            f"this tenant already has {max_keys} live API keys (the most allowed); "
            "revoke one it no longer uses first"
        )
    plain = new_api_key()
    row = ApiKey(
        id=uuid.uuid4(), tenant_id=tenant_id, name=name or "default",
        prefix=plain[:12], key_hash=hash_api_key(plain), operator_id=operator_id,
    )
    session.add(row)
    await session.flush()
    return row, plain


async def revoke_api_key(
    session: AsyncSession, tenant_id: uuid.UUID | None, key_id: uuid.UUID
) -> bool:
    """Revoke a key (one of this tenant's; any for None). After commit every API process is
    told, and closes the websockets that key opened: a socket checks its key only once."""
    owner = await repository.revoke_key(session, tenant_id, key_id)
    if owner is None:
        return False
    notify_processes(session, {"type": API_KEY_REVOKED, "keyId": str(key_id),
                               "tenantId": str(owner)})
    return True


async def create_tenant(
    session: AsyncSession, name: str, initial_credits: int = 0, user_id: str | None = None
) -> tuple[Tenant, str]:
    name = name.strip()
    if not name:
        raise ValidationFailed("name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be at most {MAX_NAME_CHARS} characters")
    if initial_credits < 0:
        raise ValidationFailed("initial credits must not be negative")
    tenant = Tenant(id=uuid.uuid4(), name=name, user_id=user_id, credit_balance=0)
    session.add(tenant)
    await session.flush()
    if initial_credits:
        await credits.grant(session, tenant.id, initial_credits, "initial credits",
                            key=f"initial:{tenant.id}")
    _, plain = await create_api_key(session, tenant.id, "initial")
    await session.refresh(tenant)
    return tenant, plain
