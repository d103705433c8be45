"""WhatsApp Cloud API: webhook parsing and text sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from app.channels.adapters.base import (
    InboundMessage,
    OutboundMedia,
    ParsedWebhook,
    Recipient,
    SendError,
    SendResult,
    StatusUpdate,
)
from app.channels.adapters.graph import post
from app.channels.adapters.payload import as_dict, as_list, as_str
from app.config import Settings

MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
MEDIA_WITH_CAPTION = ("image", "video", "document")
MEDIA = ("audio", "image", "sticker", "document", "video")
NOT_ANSWERED = frozenset({"reaction", "system", "request_welcome", "ephemeral", "revoked",
                          "deleted"})
_PHONE = re.compile(r"\+?[0-9]{5,20}")
# Webhook fields about a business account's templates (status, quality, category).
TEMPLATE_FIELDS = frozenset({"message_template_status_update", "message_template_quality_update",
                             "template_category_update"})





def _ts(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text_of(msg: dict[str, Any], mtype: str) -> str | None:
    """The words the agent should answer, or None for a type it does not answer."""
    if mtype == "text":
        return as_str(as_dict(msg.get("text")).get("body"))
    if mtype == "interactive":
        inter = as_dict(msg.get("interactive"))
        reply = as_dict(inter.get("button_reply")) or as_dict(inter.get("list_reply"))
        title = as_str(reply.get("title"))
        desc = as_str(reply.get("description"))
        return f"{title} ({desc})" if title and desc else title
    if mtype == "button":
        return as_str(as_dict(msg.get("button")).get("text"))
    if mtype in MEDIA_WITH_CAPTION:
        return as_str(as_dict(msg.get(mtype)).get("caption"))
    if mtype == "location":
        return location_text(as_dict(msg.get("location")))
    if mtype == "contacts":
        return contacts_text(as_list(msg.get("contacts")))
    return None


def location_text(loc: dict[str, Any]) -> str | None:
    """A shared location as words the agent can answer: name, address, coordinates."""
    lat, lon = loc.get("latitude"), loc.get("longitude")
    where = [p for p in (as_str(loc.get("name")), as_str(loc.get("address"))) if p]
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        where.append(f"coordinates {lat}, {lon}")
    return f"[Location shared] {'; '.join(where)}" if where else None


def contacts_text(cards: list[Any]) -> str | None:
    """Shared contact cards as names and phone numbers."""
    people = []
    for card in cards[:20]:
        c = as_dict(card)
        name = as_dict(c.get("name"))
        who = as_str(name.get("formatted_name")) or " ".join(
            p for p in (as_str(name.get("first_name")), as_str(name.get("last_name"))) if p)
        phones = [as_str(as_dict(p).get("phone")) for p in as_list(c.get("phones"))[:5]]
        numbers = ", ".join(p for p in phones if p)
        if who or numbers:
            people.append(f"{who or 'unnamed'}: {numbers}" if numbers else who)
    return f"[Contact shared] {'; '.join(people)}" if people else None


def _answered(mtype: str, text: str | None) -> bool:
    """A customer's message is answered: text, or whatever else they sent (a file is read by
    the worker; a type the agent cannot read gets the fallback reply). Reactions are shown,
    not answered; system notices are not the customer speaking."""
    if mtype in NOT_ANSWERED:
        return False
    return text is not None or mtype in MEDIA or mtype not in ("text", "interactive", "button")


def _dedup_id(msg: dict[str, Any], mtype: str, wamid: str) -> str:
    # Adding and removing a reaction reuse one wamid; the emoji (or its absence) tells them apart.
    if mtype == "reaction":
        emoji = as_str(as_dict(msg.get("reaction")).get("emoji")) or "removed"
        return f"{wamid}:reaction:{emoji}"
    return wamid


def parse_webhook(body: dict[str, Any]) -> ParsedWebhook:
    out = ParsedWebhook()
    for entry in as_list(body.get("entry")):
        waba = as_str(as_dict(entry).get("id"))
        for change in as_list(as_dict(entry).get("changes")):
            value = as_dict(as_dict(change).get("value"))
            if as_str(as_dict(change).get("field")) in TEMPLATE_FIELDS:
                # Template changes name the business account only (entry.id).
                if waba and waba.isdigit() and waba not in out.template_accounts:
                    out.template_accounts.append(waba)
                else:
                    out.ignored += 1
                continue
            account = as_str(as_dict(value.get("metadata")).get("phone_number_id"))
            if account is None:
                out.ignored += 1
                continue
            if waba and waba.isdigit() and len(waba) <= 32:
                out.business_accounts[account] = waba
            profiles: dict[str, str] = {}
            for contact in as_list(value.get("contacts")):
                c = as_dict(contact)
                name = as_str(as_dict(c.get("profile")).get("name"))
                for key in (as_str(c.get("wa_id")), as_str(c.get("user_id"))):
                    if key and name:
                        profiles[key] = name
            for raw in as_list(value.get("messages")):
                parsed = _parse_message(as_dict(raw), account, profiles)
                if parsed is None:
                    out.ignored += 1
                else:
                    out.messages.append(parsed)
            for raw in as_list(value.get("statuses")):
                st = _parse_status(as_dict(raw), account)
                if st is None:
                    out.ignored += 1
                else:
                    out.statuses.append(st)
            out.ignored += len(as_list(value.get("errors")))
    return out


def _parse_message(msg: dict[str, Any], account: str, profiles: dict[str, str]) -> InboundMessage | None:
    wamid = as_str(msg.get("id"))
    # `from` is a phone number; anything else cannot be replied to as one.
    raw_from = as_str(msg.get("from"))
    wa_id = raw_from if raw_from and _PHONE.fullmatch(raw_from) else None
    bsuid = as_str(msg.get("from_user_id"))
    bsuid = bsuid[:128] if bsuid else None
    external = wa_id or bsuid
    if wamid is None or external is None:
        return None
    mtype = as_str(msg.get("type")) or "unknown"
    text = _text_of(msg, mtype)
    reaction = as_dict(msg.get("reaction")) if mtype == "reaction" else {}
    return InboundMessage(
        account_id=account,
        provider_message_id=_dedup_id(msg, mtype, wamid)[:256],
        external_id=external,
        type=mtype[:32],
        text=text,
        answerable=_answered(mtype, text),
        raw=msg,
        timestamp=_ts(msg.get("timestamp")),
        profile_name=profiles.get(external) or (profiles.get(bsuid) if bsuid else None),
        wa_id=wa_id,
        business_user_id=bsuid,
        reacts_to=as_str(reaction.get("message_id")),
        reaction=as_str(reaction.get("emoji")),
    )


def _parse_status(st: dict[str, Any], account: str) -> StatusUpdate | None:
    wamid, status = as_str(st.get("id")), as_str(st.get("status"))
    if wamid is None or status not in ("sent", "delivered", "read", "failed", "played"):
        return None
    code = title = None
    errors = as_list(st.get("errors"))
    if errors:
        err = as_dict(errors[0])
        code = str(err.get("code"))[:32] if err.get("code") is not None else None
        title = as_str(err.get("title")) or as_str(err.get("message"))
    return StatusUpdate(
        account_id=account, provider_message_id=wamid,
        status="read" if status == "played" else status,
        error_code=code, error_title=title,
        our_message_id=as_str(st.get("biz_opaque_callback_data")),
    )


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Split at the last paragraph, line or word break before `limit` characters."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit) for sep in ("\n\n", "\n", " "))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not parts:
        parts.append(text)
    return parts


def recipient_fields(to: Recipient) -> dict[str, str]:
    if to.wa_id:
        # With the '+', Meta never prefixes the business number's country code.
        return {"to": "+" + to.wa_id.lstrip("+")}
    # A customer known only by a business-scoped user id (username adopters).
    return {"recipient": to.business_user_id or to.external_id}


class WhatsAppAdapter:
    kind = "whatsapp"

    async def send_text(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        account_id: str,
        token: str | None,
        to: Recipient,
        text: str,
        our_message_id: str,
    ) -> SendResult:
        url = f"{settings.meta_graph_api_base_url.rstrip('/')}/{account_id}/messages"
        ids: list[str] = []
        for part in split_text(text):
            body = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                **recipient_fields(to),
                "type": "text",
                "text": {"body": part, "preview_url": False},
                "biz_opaque_callback_data": our_message_id,
            }
            data = await post(http, url, token, body)
            msgs = as_list(data.get("messages"))
            wamid = as_str(as_dict(msgs[0]).get("id")) if msgs else None
            if wamid:
                ids.append(wamid)
        return SendResult(ids)

    async def send_media(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        account_id: str,
        token: str | None,
        to: Recipient,
        media: list[OutboundMedia],
        caption: str,
        our_message_id: str,
    ) -> SendResult:
        """Each file uploaded to /{phone_number_id}/media, then sent by its id; the text as the
        first file's caption (or, past the caption limit, as a text message first)."""
        base = settings.meta_graph_api_base_url.rstrip("/")
        ids: list[str] = []
        if len(caption) > MAX_CAPTION_CHARS:
            ids += (await self.send_text(http, settings, account_id, token, to, caption,
                                         our_message_id)).provider_message_ids
            caption = ""
        for i, m in enumerate(media):
            name = m.file_name or f"{m.kind}.{m.mime_type.split('/')[-1]}"
            uploaded = await post(http, f"{base}/{account_id}/media", token,
                                  {"messaging_product": "whatsapp", "type": m.mime_type},
                                  files={"file": (name, m.data, m.mime_type)})
            media_id = as_str(uploaded.get("id"))
            if media_id is None:
                raise SendError("permanent", None, "the media upload returned no id")
            payload: dict[str, Any] = {"id": media_id}
            if i == 0 and caption:
                payload["caption"] = caption
            if m.kind == "document":
                payload["filename"] = name
            body = {"messaging_product": "whatsapp", "recipient_type": "individual",
                    **recipient_fields(to), "type": m.kind, m.kind: payload,
                    "biz_opaque_callback_data": our_message_id}
            data = await post(http, f"{base}/{account_id}/messages", token, body)
            msgs = as_list(data.get("messages"))
            wamid = as_str(as_dict(msgs[0]).get("id")) if msgs else None
            if wamid:
                ids.append(wamid)
        return SendResult(ids)

async def send_template(
    http: httpx.AsyncClient,
    settings: Settings,
    account_id: str,
    token: str | None,
    to: Recipient,
    template: dict[str, Any],
    our_message_id: str,
) -> SendResult:
    """One template message: `template` is the request's `{name, language, components}`."""
    url = f"{settings.meta_graph_api_base_url.rstrip('/')}/{account_id}/messages"
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient_fields(to),
        "type": "template",
        "template": template,
        "biz_opaque_callback_data": our_message_id,
    }
    data = await post(http, url, token, body)
    msgs = as_list(data.get("messages"))
    wamid = as_str(as_dict(msgs[0]).get("id")) if msgs else None
    return SendResult([wamid] if wamid else [])
