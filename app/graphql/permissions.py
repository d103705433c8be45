"""Who may call what. Every tenant-scoped resolver starts with `require_tenant`."""

from __future__ import annotations

import uuid

from app.errors import Forbidden, NotFound
from app.graphql.context import Info


async def require_tenant(info: Info) -> uuid.UUID:
    principal = await info.context.principal()
    if principal.tenant_id is None:
        raise Forbidden("the admin key manages tenants; use a tenant's API key for this")
    return principal.tenant_id


async def require_admin(info: Info) -> None:
    principal = await info.context.principal()
    if not principal.is_admin:
        raise Forbidden("this operation needs the ADMIN_API_KEY")


def parse_id(value: object, what: str) -> uuid.UUID:
    """An ID argument. A malformed id names nothing the caller owns: NOT_FOUND, not VALIDATION."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(what) from None
