"""Endpoint rules: what may be registered, secrets shown once, re-sending by hand."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.crypto import encrypt_token
from app.errors import NotFound, ValidationFailed
from app.integrations import repository
from app.integrations.events import EventType
from app.integrations.outbox import forget_tenant
from app.models import EventDelivery, Tenant, WebhookEndpoint

MAX_ENDPOINTS_PER_TENANT = 10
MAX_URL_CHARS = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_url(url: str, settings: Settings) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("url must be an http(s) URL of at most 2048 characters")
    if settings.is_production and parts.scheme != "https":
        raise ValidationFailed("url must use https")
    if parts.username or parts.password:
        raise ValidationFailed("url must not carry credentials")
    return url


def check_types(event_types: list[EventType]) -> list[str]:
    if not event_types:
        raise ValidationFailed("eventTypes must name at least one event type")
    return sorted({str(t) for t in event_types})


async def create_endpoint(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, url: str,
    event_types: list[EventType],
) -> tuple[WebhookEndpoint, str]:
    if await repository.count_endpoints(session, tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
        raise ValidationFailed(f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} endpoints")
    secret = new_secret()
    row = WebhookEndpoint(
        id=uuid.uuid4(), tenant_id=tenant_id, url=check_url(url, settings),
        event_types=check_types(event_types),
        secret_encrypted=encrypt_token(secret, settings.encryption_key),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    forget_tenant(tenant_id)
    return row, secret


async def update_endpoint(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *,
    url: str | None = None, event_types: list[EventType] | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    row = await _endpoint(session, tenant_id, endpoint_id)
    if url is not None:
        row.url = check_url(url, settings)
    if event_types is not None:
        row.event_types = check_types(event_types)
    if enabled is not None:
        row.enabled = enabled
        if enabled:
            # Switched back on: the failure clock starts over.
            row.disabled_reason = None
            row.failing_since = None
    row.updated_at = func.now()
    await session.flush()
    await session.refresh(row)
    forget_tenant(tenant_id)
    return row


async def delete_endpoint(session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    await session.delete(await _endpoint(session, tenant_id, endpoint_id))
    await session.flush()


async def rotate_secret(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    row = await _endpoint(session, tenant_id, endpoint_id)
    secret = new_secret()
    row.secret_encrypted = encrypt_token(secret, settings.encryption_key)
    await session.flush()
    return row, secret


async def redeliver(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> EventDelivery:
    """Post a delivery again as soon as a worker is free, whatever happened to it before."""
    row = await repository.get_delivery(session, tenant_id, delivery_id)
    if row is None:
        raise NotFound("delivery")
    row.status = "pending"
    row.next_attempt_at = func.now()
    row.locked_until = None
    await session.flush()
    await session.refresh(row)
    return row


async def set_credits_low_threshold(
    session: AsyncSession, tenant_id: uuid.UUID, threshold: int | None
) -> int | None:
    if threshold is not None and not 0 <= threshold <= 10**12:
        raise ValidationFailed("threshold must be between 0 and 10^12 credits")
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise NotFound("tenant")
    tenant.credits_low_threshold = threshold
    # Armed again: a balance already below the new threshold fires at its next movement.
    tenant.credits_low_notified = False
    await session.flush()
    return threshold


async def _endpoint(session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    row = await repository.get_endpoint(session, tenant_id, endpoint_id, for_update=True)
    if row is None:
        raise NotFound("webhook endpoint")
    return row
