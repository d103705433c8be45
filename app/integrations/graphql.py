"""Event webhooks in GraphQL: endpoints (the secret shown once), their deliveries and attempts,
re-sending by hand."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import orjson
import strawberry

from app.errors import NotFound, ValidationFailed
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.integrations import repository, service
from app.integrations.events import EventType
from app.models import EventDelivery, Tenant, WebhookEndpoint

WebhookEventType = strawberry.enum(EventType, name="WebhookEventType",
                                   description="What a tenant's endpoint can be told about.")


@strawberry.enum(name="WebhookDeliveryStatus")
class DeliveryStatus(Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    EXPIRED = "expired"


@strawberry.type(name="WebhookAttempt")
class AttemptType:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@strawberry.type(name="WebhookDelivery")
class DeliveryType:
    id: strawberry.ID
    event_id: strawberry.ID = strawberry.field(description="The same on every attempt.")
    event_type: WebhookEventType  # type: ignore[valid-type]
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = strawberry.field(
        description="When a worker posts it next; null once delivered or expired.")
    delivered_at: datetime | None
    created_at: datetime
    body: str = strawberry.field(description="The JSON body every attempt posts.")
    attempt_log: list[AttemptType] = strawberry.field(description="The latest 20 attempts.")

    @classmethod
    def from_row(cls, row: EventDelivery) -> DeliveryType:
        return cls(
            id=strawberry.ID(str(row.id)), event_id=strawberry.ID(str(row.event_id)),
            event_type=EventType(row.event_type), status=DeliveryStatus(row.status),
            attempts=row.attempts, last_status_code=row.last_status_code,
            last_error=row.last_error, last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            delivered_at=row.delivered_at, created_at=row.created_at,
            body=orjson.dumps(row.payload).decode(),
            attempt_log=[AttemptType(at=datetime.fromisoformat(a["at"]),
                                     status_code=a.get("statusCode"), error=a.get("error"),
                                     duration_ms=int(a.get("durationMs") or 0))
                         for a in row.attempt_log or []],
        )


@strawberry.type(name="WebhookEndpoint")
class EndpointType:
    id: strawberry.ID
    url: str
    event_types: list[WebhookEventType]  # type: ignore[valid-type]
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why the platform switched it off (failing for too long).")
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: WebhookEndpoint) -> EndpointType:
        return cls(id=strawberry.ID(str(row.id)), url=row.url,
                   event_types=[EventType(t) for t in row.event_types], enabled=row.enabled,
                   disabled_reason=row.disabled_reason, failing_since=row.failing_since,
                   created_at=row.created_at)

    @gql.field("Deliveries to this endpoint, newest first.")
    async def deliveries(self, info: Info, first: int = 20,
                         status: DeliveryStatus | None = None) -> list[DeliveryType]:
        if not 1 <= first <= 100:
            raise ValidationFailed("first must be between 1 and 100")
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await repository.list_deliveries(
                session, tenant_id, parse_id(self.id, "webhook endpoint"), first=first,
                status=status.value if status else None)
        return [DeliveryType.from_row(r) for r in rows]


@strawberry.type
class EndpointWithSecret:
    endpoint: EndpointType
    secret: str = strawberry.field(
        description="Signs every delivery (X-MCA-Signature). Shown once; keep it safe.")


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[WebhookEventType]  # type: ignore[valid-type]


@strawberry.input
class UpdateWebhookEndpointInput:
    url: str | None = None
    event_types: list[WebhookEventType] | None = None  # type: ignore[valid-type]
    enabled: bool | None = strawberry.field(
        default=None, description="true switches a disabled endpoint back on.")


@strawberry.type
class IntegrationQuery:
    @gql.field("The tenant's event webhook endpoints.")
    async def webhook_endpoints(self, info: Info) -> list[EndpointType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await repository.list_endpoints(session, tenant_id)
        return [EndpointType.from_row(r) for r in rows]


@strawberry.type
class IntegrationMutation:
    @gql.mutation("Register an endpoint for some event types; its signing secret is shown once.")
    async def create_webhook_endpoint(self, info: Info,
                                      input: CreateWebhookEndpointInput) -> EndpointWithSecret:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row, secret = await service.create_endpoint(
                session, info.context.rt.settings, tenant_id, input.url, list(input.event_types))
        return EndpointWithSecret(endpoint=EndpointType.from_row(row), secret=secret)

    @gql.mutation("Change an endpoint's URL or event types, or switch it on or off.")
    async def update_webhook_endpoint(self, info: Info, id: strawberry.ID,
                                      input: UpdateWebhookEndpointInput) -> EndpointType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.update_endpoint(
                session, info.context.rt.settings, tenant_id, parse_id(id, "webhook endpoint"),
                url=input.url,
                event_types=list(input.event_types) if input.event_types is not None else None,
                enabled=input.enabled)
        return EndpointType.from_row(row)

    @gql.mutation("Delete an endpoint and its pending deliveries.")
    async def delete_webhook_endpoint(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.delete_endpoint(session, tenant_id, parse_id(id, "webhook endpoint"))
        return id

    @gql.mutation("A new signing secret (shown once); the old one stops signing at once.")
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> EndpointWithSecret:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row, secret = await service.rotate_secret(
                session, info.context.rt.settings, tenant_id, parse_id(id, "webhook endpoint"))
        return EndpointWithSecret(endpoint=EndpointType.from_row(row), secret=secret)

    @gql.mutation("Post a delivery again now, whatever its status.")
    async def redeliver_webhook(self, info: Info, delivery_id: strawberry.ID) -> DeliveryType:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            row = await service.redeliver(session, tenant_id, parse_id(delivery_id, "delivery"))
        return DeliveryType.from_row(row)

    @gql.mutation("credits.low fires once when the balance falls to this many credits (null: never).")
    async def set_credits_low_threshold(self, info: Info, threshold: int | None) -> int | None:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            return await service.set_credits_low_threshold(session, tenant_id, threshold)

    @gql.mutation("Whether a top-up answers the customers skipped for lack of credits whose reply "
                  "window is still open (on by default).")
    async def set_answer_after_top_up(self, info: Info, enabled: bool) -> bool:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise NotFound("tenant")
            tenant.answer_after_top_up = enabled
        return enabled
