"""Templates: the copy of a business account's templates, and template messages.

A template message is recorded like an operator's reply: an outbound `pending` message of the
conversation (type `template`, the rendered text, the request's template in `meta`), its
credits debited in the same transaction, and the `send_message` job queued after commit. It
may go out whatever the 24-hour window says; that is what templates are for.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.adapters.payload import as_dict, as_list, as_str
from app.config import Settings
from app.conversations.outbox import queue_send, template_charge_key, writable_conversation
from app.conversations.service import add_message, open_conversation, upsert_contact
from app.credits.service import move_credits
from app.errors import BadUserInput, NotFound, ValidationFailed
from app.models import Agent, Channel, Conversation, Message, MessageTemplate
from app.templates import components as tc
from app.templates import repository

MAX_NAME_CHARS = 512
MAX_PARAMETERS = 100
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,4})?")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


def business_account_id(channel: Channel) -> str | None:
    value = (channel.settings or {}).get("waba_id")
    return str(value) if value else None


def whatsapp_channel(channel: Channel | None) -> Channel:
    if channel is None:
        raise NotFound("channel")
    if channel.kind != "whatsapp":
        raise ValidationFailed("templates are a WhatsApp feature; this channel is "
                               f"{channel.kind}")
    return channel


def requires_business_account(channel: Channel) -> str:
    waba = business_account_id(channel)
    if waba is None:
        raise ValidationFailed(
            "the channel's WhatsApp Business Account is not known yet: set businessAccountId "
            "with updateChannel, or wait for the number's first webhook"
        )
    return waba


async def store_templates(
    session: AsyncSession, channel: Channel, listed: list[dict[str, Any]]
) -> int:
    """Replace the channel's copy with what Meta listed; the number of templates kept."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for t in listed:
        name, language = as_str(t.get("name")), as_str(t.get("language"))
        if not name or not language or len(name) > MAX_NAME_CHARS or len(language) > 16:
            continue
        rows[(name, language)] = {
            "id": uuid.uuid4(), "tenant_id": channel.tenant_id, "channel_id": channel.id,
            "provider_template_id": (as_str(t.get("id")) or "")[:64] or None,
            "name": name, "language": language,
            "status": (as_str(t.get("status")) or "UNKNOWN").upper()[:32],
            "category": (as_str(t.get("category")) or "")[:32] or None,
            "components": [as_dict(c) for c in as_list(t.get("components"))],
            "parameter_format": (as_str(t.get("parameter_format")) or "POSITIONAL").upper()[:16],
        }
    existing = await session.execute(
        select(MessageTemplate.name, MessageTemplate.language)
        .where(MessageTemplate.channel_id == channel.id)
    )
    gone = [(n, lang) for n, lang in existing.all() if (n, lang) not in rows]
    for name, language in gone:
        await session.execute(delete(MessageTemplate).where(
            MessageTemplate.channel_id == channel.id, MessageTemplate.name == name,
            MessageTemplate.language == language,
        ))
    if rows:
        stmt = pg_insert(MessageTemplate).values(list(rows.values()))
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["channel_id", "name", "language"],
            set_={k: stmt.excluded[k] for k in ("provider_template_id", "status", "category",
                                                 "components", "parameter_format")}
            | {"updated_at": stmt.excluded.updated_at},
        ))
    return len(rows)


def parameter_values(parameters: list[tuple[str, str]]) -> dict[str, str]:
    if len(parameters) > MAX_PARAMETERS:
        raise BadUserInput(f"at most {MAX_PARAMETERS} template parameters")
    values: dict[str, str] = {}
    for key, value in parameters:
        if key in values:
            raise BadUserInput(f"template parameter {key!r} is given twice")
        values[key] = value
    return values


def check_name(name: str, language: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be 1 to {MAX_NAME_CHARS} characters")
    if not _LANGUAGE.fullmatch(language):
        raise BadUserInput("language must be a template language code such as en_US or es")


async def approved_template(
    session: AsyncSession, channel: Channel, name: str, language: str
) -> MessageTemplate:
    check_name(name, language)
    template = await repository.get_template(session, channel.tenant_id, channel.id, name, language)
    if template is None:
        raise NotFound(f"template {name!r} in {language}")
    if template.status != repository.APPROVED:
        raise ValidationFailed(
            f"template {name!r} ({language}) is {template.status}; only APPROVED templates can "
            "be sent"
        )
    return template


async def _record(
    session: AsyncSession, settings: Settings, conv: Conversation, template: MessageTemplate,
    given: dict[str, str],
) -> Message:
    values = tc.check_values(template.components, given)
    request = {
        "name": template.name, "language": {"code": template.language},
        "components": tc.send_components(template.components, values, template.parameter_format),
    }
    amount = settings.template_credits
    # The model must read the template when the customer answers it: its next turn is rebuilt
    # from the stored history (where the template is an assistant turn) instead of chaining
    # onto a response that never saw it.
    conv.context_response_id = None
    msg = await add_message(
        session, conv, direction="outbound", sender_role="operator", type="template",
        text=tc.render(template.components, values), status="pending",
        meta={"template": request, "credits": amount, "charge": 0},
    )
    if amount > 0:
        # The tenant row's lock: the last statement before the caller's commit.
        await move_credits(session, conv.tenant_id, -amount, "template", template_charge_key(msg.id, 0),
                           f"template {template.name}", conv.id)
    queue_send(session, msg.id)
    return msg


async def send_template(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    name: str, language: str, parameters: list[tuple[str, str]],
) -> Message:
    """`sendTemplate`: checked against the template, recorded, debited, queued."""
    given = parameter_values(parameters)
    conv, channel = await writable_conversation(session, tenant_id, conversation_id)
    whatsapp_channel(channel)
    template = await approved_template(session, channel, name, language)
    return await _record(session, settings, conv, template, given)


def normalize_phone(to: str) -> str:
    digits = _PHONE_PUNCTUATION.sub("", to.strip())
    digits = digits[1:] if digits.startswith("+") else digits
    if not digits.isascii() or not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise BadUserInput("to must be a phone number in international format, e.g. +5215512345678")
    return digits


async def start_conversation(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, channel: Channel | None,
    to: str, name: str, language: str, parameters: list[tuple[str, str]],
) -> tuple[Conversation, Message]:
    """`startConversation`: the customer's open conversation on the channel (opened if there
    is none) with the template as its next message."""
    channel = whatsapp_channel(channel)
    if channel.tenant_id != tenant_id or channel.deleted_at is not None:
        raise NotFound("channel")
    wa_id = normalize_phone(to)
    given = parameter_values(parameters)
    template = await approved_template(session, channel, name, language)
    tc.check_values(template.components, given)
    agent_id = await session.scalar(select(Agent.id).where(
        Agent.channel_id == channel.id, Agent.deleted_at.is_(None)))
    contact_id = await upsert_contact(session, channel, wa_id, wa_id=wa_id)
    conv_id = await open_conversation(session, channel, agent_id, contact_id)
    conv, _ = await writable_conversation(session, tenant_id, conv_id)
    msg = await _record(session, settings, conv, template, given)
    return conv, msg
