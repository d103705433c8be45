"""Templates in the API: the approved list with its parameters, sendTemplate, startConversation."""

from __future__ import annotations

import uuid

import strawberry

from app.channels import repository as channels
from app.conversations.graphql import ConversationType
from app.conversations.nodes import MessageType
from app.conversations.service import get_conversation
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import read, write
from app.models import Channel, MessageTemplate
from app.templates import components as tc
from app.templates import repository, service
from app.templates.refresh import refresh


@strawberry.type(name="TemplateParameter")
class TemplateParameterType:
    key: str = strawberry.field(description=(
        "What sendTemplate calls it: header.<name>, body.<name> or button.<index>.<name>, "
        "where <name> is the placeholder's number ({{1}}) or name ({{order_id}})."
    ))
    component: str = strawberry.field(description="header, body or button.")
    name: str
    example: str | None = strawberry.field(description="The example Meta keeps with the template.")


@strawberry.type(name="MessageTemplate")
class MessageTemplateType:
    name: str
    language: str = strawberry.field(description="Meta's language code, e.g. en_US.")
    status: str = strawberry.field(description="As Meta words it; only APPROVED ones are listed.")
    category: str | None
    header: str | None = strawberry.field(description="The header's text, with placeholders.")
    body: str | None = strawberry.field(description="The body's text, with placeholders.")
    footer: str | None
    parameters: list[TemplateParameterType]
    unsupported_reason: str | None = strawberry.field(description=(
        "Set when the platform cannot send this template (e.g. a media header)."
    ))

    @classmethod
    def from_row(cls, row: MessageTemplate) -> MessageTemplateType:
        parts = {str(c.get("type", "")).upper(): c for c in row.components}
        return cls(
            name=row.name, language=row.language, status=row.status, category=row.category,
            header=parts.get("HEADER", {}).get("text"), body=parts.get("BODY", {}).get("text"),
            footer=parts.get("FOOTER", {}).get("text"),
            parameters=[TemplateParameterType(key=p.key, component=p.component, name=p.name,
                                              example=p.example)
                        for p in tc.parameters(row.components)],
            unsupported_reason=tc.unsupported(row.components),
        )


@strawberry.input
class TemplateParameterInput:
    key: str = strawberry.field(description="A TemplateParameter.key, e.g. body.1.")
    value: str


@strawberry.input
class SendTemplateInput:
    conversation_id: strawberry.ID
    name: str
    language: str
    parameters: list[TemplateParameterInput] = strawberry.field(default_factory=list)


@strawberry.input
class TemplateMessageInput:
    name: str
    language: str
    parameters: list[TemplateParameterInput] = strawberry.field(default_factory=list)


@strawberry.input
class StartConversationInput:
    channel_id: strawberry.ID
    to: str = strawberry.field(description="The customer's phone number, e.g. +5215512345678.")
    template: TemplateMessageInput


@strawberry.type
class StartConversationPayload:
    conversation: ConversationType
    message: MessageType


def _pairs(parameters: list[TemplateParameterInput]) -> list[tuple[str, str]]:
    return [(p.key, p.value) for p in parameters]


async def _templates(info: Info, channel_id: strawberry.ID, fetch: bool) -> list[MessageTemplateType]:
    tenant_id = await require_tenant(info)
    cid = parse_id(channel_id, "channel")
    async with read(info) as session:
        channel = service.whatsapp_channel(await channels.get_channel(session, tenant_id, cid))
        rows = await repository.list_templates(session, tenant_id, cid)
    if fetch or (not rows and service.business_account_id(channel) is not None):
        await refresh(info.context.rt, tenant_id, cid)
        async with read(info) as session:
            rows = await repository.list_templates(session, tenant_id, cid)
    return [MessageTemplateType.from_row(r) for r in rows]


async def _listed(info: Info, tenant_id: uuid.UUID, channel: Channel | None, name: str,
                  language: str) -> None:
    """A template the copy does not hold yet is looked for at Meta once (it may have been
    approved since the last refresh); the write that follows decides."""
    if channel is None or channel.kind != "whatsapp" or service.business_account_id(channel) is None:
        return
    async with read(info) as session:
        found = await repository.get_template(session, tenant_id, channel.id, name, language)
    if found is None:
        await refresh(info.context.rt, tenant_id, channel.id)


@strawberry.type
class TemplateQuery:
    @gql.field(
        "WhatsApp: the channel's APPROVED templates and their parameters, from the copy of "
        "its business account's list (read from Meta the first time, with refresh: true, and "
        "after Meta reports a template status change)."
    )
    async def templates(
        self, info: Info, channel_id: strawberry.ID, refresh: bool = False
    ) -> list[MessageTemplateType]:
        return await _templates(info, channel_id, refresh)


@strawberry.type
class TemplateMutation:
    @gql.mutation("Read the channel's templates from Meta again; returns the approved ones.")
    async def refresh_templates(
        self, info: Info, channel_id: strawberry.ID
    ) -> list[MessageTemplateType]:
        return await _templates(info, channel_id, True)

    @gql.mutation(
        "Send an approved WhatsApp template into a conversation, also after the 24-hour window "
        "closed. The parameters are checked against the template before Meta is asked "
        "(BAD_USER_INPUT names the one at fault); TEMPLATE_CREDITS are debited "
        "(INSUFFICIENT_CREDITS) and given back if Meta refuses it. Returns the message PENDING "
        "with the rendered text; a refusal arrives as MessageStatusChanged FAILED with "
        "statusReason template_error and a clear errorTitle. The conversation's mode is kept."
    )
    async def send_template(self, info: Info, input: SendTemplateInput) -> MessageType:
        tenant_id = await require_tenant(info)
        conversation_id = parse_id(input.conversation_id, "conversation")
        async with read(info) as session:
            conv = await get_conversation(session, tenant_id, conversation_id)
            channel = await session.get(Channel, conv.channel_id) if conv is not None else None
        await _listed(info, tenant_id, channel, input.name, input.language)
        async with write(info) as session:
            msg = await service.send_template(
                session, info.context.rt.settings, tenant_id,
                parse_id(input.conversation_id, "conversation"), input.name, input.language,
                _pairs(input.parameters),
            )
        return MessageType.from_row(msg)

    @gql.mutation(
        "Speak first: open a conversation with a WhatsApp customer who has not written yet (or "
        "use their open one) with an approved template, checked and charged as in sendTemplate."
    )
    async def start_conversation(
        self, info: Info, input: StartConversationInput
    ) -> StartConversationPayload:
        tenant_id = await require_tenant(info)
        cid = parse_id(input.channel_id, "channel")
        t = input.template
        async with read(info) as session:
            found = await channels.get_channel(session, tenant_id, cid)
        await _listed(info, tenant_id, found, t.name, t.language)
        async with write(info) as session:
            channel = await channels.get_channel(session, tenant_id, cid)
            conv, msg = await service.start_conversation(
                session, info.context.rt.settings, tenant_id, channel, input.to, t.name,
                t.language, _pairs(t.parameters),
            )
            await session.refresh(conv)
        return StartConversationPayload(
            conversation=ConversationType.from_row(conv, info.context.loaders),
            message=MessageType.from_row(msg),
        )
