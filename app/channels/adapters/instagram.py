"""Instagram Messaging (Instagram Login): webhook parsing and text sends."""

from __future__ import annotations

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

MAX_TEXT_BYTES = 1000
ATTACHMENT_TYPES = ("image", "audio", "video", "file")


def _ts_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_webhook(body: dict[str, Any]) -> ParsedWebhook:
    out = ParsedWebhook()
    for entry in as_list(body.get("entry")):
        e = as_dict(entry)
        account = as_str(e.get("id"))
        if account is None:
            out.ignored += 1
            continue
        for event in as_list(e.get("messaging")):
            ev = as_dict(event)
            sender = as_str(as_dict(ev.get("sender")).get("id"))
            if sender is None:
                out.ignored += 1
                continue
            ts = _ts_ms(ev.get("timestamp"))
            msg = as_dict(ev.get("message"))
            if msg:
                parsed = _parse_message(msg, account, sender, ts, ev)
                if parsed is None:
                    out.ignored += 1
                else:
                    out.messages.append(parsed)
            elif ev.get("read"):
                mid = as_str(as_dict(ev.get("read")).get("mid"))
                if mid:
                    out.statuses.append(StatusUpdate(account, mid, "read"))
            elif ev.get("reaction") or ev.get("postback"):
                kind = "reaction" if ev.get("reaction") else "postback"
                data = as_dict(ev.get(kind))
                mid = as_str(data.get("mid"))
                if mid is None or sender == account:
                    out.ignored += 1
                    continue
                action = as_str(data.get("action")) or as_str(data.get("payload")) or ""
                # A reaction is recorded so the dashboard sees it, never answered. A postback
                # (ice breaker, persistent menu, button) is answered: the button's title is
                # what the customer said.
                words = None
                if kind == "postback":
                    words = as_str(data.get("title")) or as_str(data.get("payload"))
                react = kind == "reaction" and action == "react"
                out.messages.append(InboundMessage(
                    account_id=account,
                    provider_message_id=f"{mid}:{kind}:{action}:{ev.get('timestamp')}"[:256],
                    external_id=sender, type=kind, text=words, answerable=words is not None,
                    raw=ev, timestamp=ts, reacts_to=mid if kind == "reaction" else None,
                    reaction=(as_str(data.get("emoji")) or as_str(data.get("reaction")))
                    if react else None,
                ))
            else:
                out.ignored += 1
    return out


def _parse_message(
    msg: dict[str, Any], account: str, sender: str, ts: datetime | None, ev: dict[str, Any]
) -> InboundMessage | None:
    mid = as_str(msg.get("mid"))
    if mid is None or msg.get("is_echo") or msg.get("is_self") or sender == account:
        # Our own outbound messages come back as echoes; answering them would loop.
        return None
    if msg.get("is_deleted"):
        return InboundMessage(account, f"{mid}:deleted", sender, "deleted", None, False, ev, ts)
    text = as_str(msg.get("text"))
    quick = as_str(as_dict(msg.get("quick_reply")).get("payload"))
    attachments = as_list(msg.get("attachments"))
    if text:
        mtype = "text"
    elif attachments:
        mtype = as_str(as_dict(attachments[0]).get("type")) or "attachment"
    elif msg.get("is_unsupported"):
        mtype = "unsupported"
    else:
        mtype = "unknown"
    if quick and not text:
        text = quick
    story_url = as_str(as_dict(as_dict(msg.get("reply_to")).get("story")).get("url"))
    if as_dict(as_dict(msg.get("reply_to")).get("story")):
        # The agent reads the story the customer answers (its link; the media is Meta's).
        mtype = "story_reply"
        text = f"{story_context('replied to your story', story_url)}\n{text or ''}".rstrip()
    elif mtype == "story_mention":
        url = as_str(as_dict(as_dict(attachments[0]).get("payload")).get("url"))
        text = story_context("mentioned you in their story", url)
    return InboundMessage(
        account_id=account, provider_message_id=mid[:256], external_id=sender,
        # Files are fetched and read by the worker (app/media/); a message Instagram could not
        # render for us gets the agent's fallback reply there.
        type=mtype[:32], text=text,
        answerable=text is not None or mtype in ATTACHMENT_TYPES or mtype == "unsupported",
        raw=ev, timestamp=ts,
    )


def story_context(what: str, url: str | None) -> str:
    """The words that tell the agent what a story reply or mention refers to."""
    return f"[The customer {what}" + (f": {url}]" if url else "]")


def split_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split so every part is at most `limit` UTF-8 bytes, never inside a character,
    preferring the last space."""
    parts: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode("utf-8", errors="ignore"))
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not parts:
        parts.append(text)
    return parts


class InstagramAdapter:
    kind = "instagram"

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
        url = f"{settings.instagram_graph_api_base_url.rstrip('/')}/{account_id}/messages"
        ids: list[str] = []
        for part in split_utf8(text):
            body = {"recipient": {"id": to.external_id}, "message": {"text": part}}
            data = await post(http, url, token, body)
            mid = as_str(data.get("message_id"))
            if mid:
                ids.append(mid)
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
        # Instagram takes attachments only by a public URL; sendOperatorMessage refuses files
        # on Instagram before anything is stored, so this is never reached from the API.
        raise SendError("permanent", None, "sending files on Instagram is not supported")

async def send_tagged_text(
    http: httpx.AsyncClient,
    settings: Settings,
    account_id: str,
    token: str | None,
    to: Recipient,
    text: str,
    tag: str,
) -> SendResult:
    """A text sent with a message tag: HUMAN_AGENT lets a person's reply out up to 7 days
    after the customer's last message (never the agent's: Meta's policy)."""
    url = f"{settings.instagram_graph_api_base_url.rstrip('/')}/{account_id}/messages"
    ids: list[str] = []
    for part in split_utf8(text):
        body = {"recipient": {"id": to.external_id}, "messaging_type": "MESSAGE_TAG",
                "tag": tag, "message": {"text": part}}
        data = await post(http, url, token, body)
        mid = as_str(data.get("message_id"))
        if mid:
            ids.append(mid)
    return SendResult(ids)
