"""Channels: connected WhatsApp numbers, Instagram accounts and web chat widgets.

The access token goes in (create, update) and never comes out.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import strawberry

from app.channels import repository, service
from app.channels.verification import VerifiedAccount, verify_account, verify_business_account
from app.errors import BadUserInput, NotFound, ValidationFailed
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.enums import of
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.models import Channel as ChannelRow
from app.models.states import ChannelKind, ChannelStatus

if TYPE_CHECKING:
    from app.agents.graphql import AgentType

MAX_ORIGINS = 50
# Longer than any real scheme://host:port.
MAX_ORIGIN_CHARS = 300


# The states' own StrEnums, as GraphQL enums (upper-case names, lower-case values).
strawberry.enum(ChannelKind)
strawberry.enum(ChannelStatus)


@strawberry.type(name="Channel")
class ChannelType:
    id: strawberry.ID
    kind: ChannelKind
    provider_account_id: str = strawberry.field(description=(
        "WhatsApp phone_number_id, Instagram account id, or the web widget's public id."
    ))
    display_name: str
    status: ChannelStatus
    allowed_origins: list[str] = strawberry.field(description=(
        "Web chat only: the sites allowed to embed the widget."
    ))
    verified_name: str | None = strawberry.field(description=(
        "What Meta answered when the connection was checked: the WhatsApp number's "
        "verified business name, or the Instagram username. Null for web chat."
    ))
    display_phone_number: str | None = strawberry.field(description=(
        "WhatsApp only: the number as Meta displays it, from the connection check."
    ))
    business_account_id: str | None = strawberry.field(description=(
        "WhatsApp only: the WhatsApp Business Account holding the number (its templates), "
        "from businessAccountId or learnt from Meta's webhooks, and confirmed by Meta."
    ))
    created_at: datetime
    deleted_at: datetime | None
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: ChannelRow) -> ChannelType:
        account = (row.settings or {}).get("account") or {}
        return cls(
            id=strawberry.ID(str(row.id)), kind=of(ChannelKind, row.kind),
            provider_account_id=row.provider_account_id, display_name=row.display_name,
            status=of(ChannelStatus, row.status),
            allowed_origins=list((row.settings or {}).get("allowed_origins", [])),
            verified_name=account.get("verified_name"),
            display_phone_number=account.get("display_phone_number"),
            business_account_id=(row.settings or {}).get("waba_id"),
            created_at=row.created_at, deleted_at=row.deleted_at, pk=row.id,
        )

    @classmethod
    def from_record(cls, r: Any) -> ChannelType:
        """From a row of app/conversations/pages.py's channel statement (a mapping)."""
        settings = r["settings"] or {}
        account = settings.get("account") or {}
        return cls(
            id=strawberry.ID(str(r["id"])), kind=of(ChannelKind, r["kind"]),
            provider_account_id=r["provider_account_id"], display_name=r["display_name"],
            status=of(ChannelStatus, r["status"]),
            allowed_origins=list(settings.get("allowed_origins", [])),
            verified_name=account.get("verified_name"),
            display_phone_number=account.get("display_phone_number"),
            business_account_id=settings.get("waba_id"),
            created_at=r["created_at"], deleted_at=r["deleted_at"], pk=r["id"],
        )

    @gql.field("The channel's live agent, if it has one.")
    async def agent(
        self, info: Info
    ) -> Annotated[AgentType, strawberry.lazy("app.agents.graphql")] | None:
        # Agents sit above channels: the one reference back, resolved as strawberry does.
        agent_type: type[AgentType] = gql.back_reference("app.agents.graphql", "AgentType")
        row = await info.context.loaders.live_agent_by_channel.load(self.pk)
        return agent_type.from_row(row) if row is not None else None


def normalize_origins(origins: list[str]) -> list[str]:
    """Origins as browsers send them: scheme://host[:port], nothing else."""
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(f"at most {MAX_ORIGINS} allowed origins")
    out: list[str] = []
    for raw in origins:
        if len(raw) > MAX_ORIGIN_CHARS:
            raise BadUserInput(f"allowedOrigins: each must be at most {MAX_ORIGIN_CHARS} characters")
        parts = urlsplit(raw.strip())
        if (parts.scheme not in ("http", "https") or not parts.hostname
                or parts.path not in ("", "/") or parts.query or parts.fragment
                or parts.username or parts.password):
            raise ValidationFailed(f"not an origin (scheme://host[:port]): {raw!r}")
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        if origin not in out:
            out.append(origin)
    return out


@strawberry.input
class CreateChannelInput:
    kind: ChannelKind
    provider_account_id: str | None = strawberry.field(default=None, description=(
        "Required for WhatsApp and Instagram; generated for web chat when omitted."
    ))
    access_token: str | None = strawberry.field(default=None, description=(
        "Required for WhatsApp and Instagram. Meta must confirm, with this token, that it "
        "owns the account (else CHANNEL_VERIFICATION_FAILED and nothing is stored). Stored "
        "encrypted, never returned."
    ))
    display_name: str = strawberry.field(default="", description=(
        "Defaults to the name Meta answered for WhatsApp and Instagram."
    ))
    allowed_origins: list[str] | None = None
    business_account_id: str | None = strawberry.field(default=None, description=(
        "WhatsApp: the WhatsApp Business Account id (for templates). Meta must confirm, with "
        "the token, that it holds the number; else CHANNEL_VERIFICATION_FAILED."
    ))


@strawberry.input
class UpdateChannelInput:
    display_name: str | None = None
    access_token: str | None = strawberry.field(default=None, description=(
        "A new token is verified with Meta like on createChannel before it replaces the old one."
    ))
    status: ChannelStatus | None = None
    allowed_origins: list[str] | None = None
    business_account_id: str | None = strawberry.field(default=None, description=(
        "WhatsApp: set the WhatsApp Business Account id, verified as on createChannel."
    ))


def _business_account(kind: ChannelKind | str, waba_id: str | None) -> str | None:
    if waba_id is None:
        return None
    if kind not in (ChannelKind.WHATSAPP, "whatsapp"):
        raise ValidationFailed("businessAccountId applies to WhatsApp channels only")
    waba = waba_id.strip()
    if not (waba.isascii() and waba.isdigit() and len(waba) <= service.MAX_META_ACCOUNT_DIGITS):
        raise BadUserInput("businessAccountId must be the numeric WhatsApp Business Account id")
    return waba


def _options(kind: ChannelKind | str, allowed_origins: list[str] | None) -> dict[str, Any] | None:
    if allowed_origins is None:
        return None
    if kind not in (ChannelKind.WEBCHAT, "webchat"):
        raise ValidationFailed("allowedOrigins applies to web chat channels only")
    return {"allowed_origins": normalize_origins(allowed_origins)}


@strawberry.type
class ChannelQuery:
    @gql.field("The tenant's channels (deleted ones are gone from this list).")
    async def channels(self, info: Info) -> list[ChannelType]:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            rows = await repository.list_channels(session, tenant_id)
        return [ChannelType.from_row(r) for r in rows]

    @strawberry.field
    async def channel(self, info: Info, id: strawberry.ID) -> ChannelType | None:
        tenant_id = await require_tenant(info)
        async with read(info) as session:
            row = await repository.get_channel(session, tenant_id, parse_id(id, "channel"))
        if row is None:
            raise NotFound("channel")
        return ChannelType.from_row(row)


@strawberry.type
class ChannelMutation:
    @strawberry.mutation
    async def create_channel(self, info: Info, input: CreateChannelInput) -> ChannelType:
        tenant_id = await require_tenant(info)
        options = _options(input.kind, input.allowed_origins)
        kind = input.kind.value
        account = service.account_id_for(kind, input.provider_account_id)
        service.check_connection(kind, account, input.access_token)
        service.check_display_name(input.display_name)
        verified = None
        if input.access_token and kind != "webchat":
            # Asked before the transaction opens: no connection is held while Meta answers.
            rt = info.context.rt
            verified = await verify_account(rt.http, rt.settings, kind, account, input.access_token)
        waba = _business_account(input.kind, input.business_account_id)
        if waba is not None and input.access_token:
            await verify_business_account(info.context.rt.http, info.context.rt.settings, waba,
                                          account, input.access_token)
            options = {**(options or {}), "waba_id": waba}
        async with write(info) as session:
            row = await service.create_channel(
                session, info.context.rt.settings, tenant_id, kind=kind,
                provider_account_id=account, access_token=input.access_token,
                display_name=input.display_name, options=options, verified=verified,
            )
            await session.refresh(row)
        return ChannelType.from_row(row)

    @strawberry.mutation
    async def update_channel(
        self, info: Info, id: strawberry.ID, input: UpdateChannelInput
    ) -> ChannelType:
        tenant_id = await require_tenant(info)
        channel_id = parse_id(id, "channel")
        rt = info.context.rt
        async with read(info) as session:
            current = await repository.get_channel(session, tenant_id, channel_id)
        if current is None:
            raise NotFound("channel")
        options = _options(current.kind, input.allowed_origins)
        verified: VerifiedAccount | None = None
        if input.access_token and current.kind != "webchat":
            service.check_access_token(input.access_token)
            # The account id never changes, so the answer still holds inside the transaction.
            verified = await verify_account(
                rt.http, rt.settings, current.kind, current.provider_account_id, input.access_token
            )
        waba = _business_account(current.kind, input.business_account_id)
        if waba is not None:
            token = input.access_token or service.channel_token(current, rt.settings) or ""
            await verify_business_account(rt.http, rt.settings, waba,
                                          current.provider_account_id, token)
            options = {**(options or {}), "waba_id": waba}
        async with write(info) as session:
            row = await service.update_channel(
                session, rt.settings, tenant_id, channel_id,
                display_name=input.display_name, access_token=input.access_token,
                status=input.status.value if input.status else None,
                options=options, verified=verified,
            )
            await session.refresh(row)
        return ChannelType.from_row(row)
