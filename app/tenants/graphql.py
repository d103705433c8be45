"""Tenants and API keys: `viewer`, `apiKeys`, key management, and the admin's createTenant and
grantCredits (it answers with the tenant; credits sit below tenants)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.credits import service as credits
from app.errors import BadUserInput, NotFound, ValidationFailed, present
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_admin, require_tenant
from app.graphql.writes import read, write
from app.models import ApiKey as ApiKeyRow
from app.models import Tenant as TenantRow
from app.tenants import repository, service

# GraphQL's Int is 32-bit; a single grant this large is surely a typo.
MAX_GRANT = 1_000_000_000
MAX_REASON_CHARS = 500


@strawberry.type(name="Tenant")
class TenantType:
    id: strawberry.ID
    name: str
    credit_balance: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: TenantRow) -> TenantType:
        return cls(id=strawberry.ID(str(row.id)), name=row.name,
                   credit_balance=row.credit_balance, created_at=row.created_at)


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The key's first characters, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKeyType:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, prefix=row.prefix,
                   created_at=row.created_at, revoked_at=row.revoked_at)


@strawberry.type
class CreatedApiKey:
    api_key: ApiKeyType
    key: str = strawberry.field(description="The secret key. Shown once; only a hash is kept.")


@strawberry.type
class CreatedTenant:
    tenant: TenantType
    api_key: str = strawberry.field(description="The tenant's first API key, shown once.")


@strawberry.type
class TenantQuery:
    @gql.field("The tenant the API key belongs to.")
    async def viewer(self, info: Info) -> TenantType:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            tenant = await repository.get_tenant(session, tenant_id)
        if tenant is None:
            raise NotFound("tenant")
        return TenantType.from_row(tenant)

    @gql.field("The tenant's API keys, revoked ones included; never the secret.")
    async def api_keys(self, info: Info) -> list[ApiKeyType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await repository.list_api_keys(session, tenant_id)
        return [ApiKeyType.from_row(r) for r in rows]


@strawberry.type
class TenantMutation:
    @gql.mutation("A new API key for the caller's tenant; the key is shown once. LIMIT_REACHED "
                  "when the tenant has MAX_API_KEYS_PER_TENANT live keys.")
    async def create_api_key(self, info: Info, name: str) -> CreatedApiKey:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row, plain = await service.create_api_key(
                session, tenant_id, name, max_keys=info.context.rt.settings.max_api_keys_per_tenant)
        return CreatedApiKey(api_key=ApiKeyType.from_row(row), key=plain)

    @gql.mutation(
        "Revoke one of the tenant's keys: HTTP requests with it fail at once, and websockets it "
        "opened are closed (4401) within seconds on every API process."
    )
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        tenant_id = await require_tenant(info)
        key_id = parse_id(id, "api key")
        async with write(info) as session:
            if await repository.get_api_key(session, tenant_id, key_id) is None:
                raise NotFound("api key")
            await service.revoke_api_key(session, tenant_id, key_id)
            row = present(await repository.get_api_key(session, tenant_id, key_id), "api key")
            await session.refresh(row)
        return ApiKeyType.from_row(row)

    @gql.mutation("Admin: a new tenant with its first API key.")
    async def create_tenant(self, info: Info, name: str, initial_credits: int = 0) -> CreatedTenant:
        await require_admin(info)
        async with write(info) as session:
            tenant, plain = await service.create_tenant(session, name, initial_credits)
        return CreatedTenant(tenant=TenantType.from_row(tenant), api_key=plain)

    @gql.mutation(
        "Admin: add credits to a tenant. With an idempotencyKey, repeating the call is harmless."
    )
    async def grant_credits(
        self, info: Info, tenant_id: strawberry.ID, amount: int, reason: str,
        idempotency_key: str | None = None,
    ) -> TenantType:
        await require_admin(info)
        tid: uuid.UUID = parse_id(tenant_id, "tenant")
        if amount > MAX_GRANT:
            raise ValidationFailed(f"amount must be at most {MAX_GRANT}")
        if len(reason) > MAX_REASON_CHARS:
            raise BadUserInput(f"reason must be at most {MAX_REASON_CHARS} characters")
        key = f"grant:{tid}:{idempotency_key[:100]}" if idempotency_key else None
        async with write(info) as session:
            await credits.grant(session, tid, amount, reason, key=key)
            tenant = await repository.get_tenant(session, tid)
            if tenant is None:
                raise NotFound("tenant")
            await session.refresh(tenant)
        return TenantType.from_row(tenant)
