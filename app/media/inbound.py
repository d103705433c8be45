"""A batch's files, made into what the agent reads: downloaded, kept, transcribed.

Runs in the worker between the claim and the model call, only for a batch that has a row
without text or with a file (a text-only batch costs nothing here). Each file is fetched once:
a batch run again (a retried job) finds its attachment rows and reads the kept copy.

- images and stickers: Responses API `input_image` (a data URL), with the caption;
- voice notes and audio: the transcript (OpenAI audio transcription);
- PDF documents: `input_file`; other documents and videos: name, type and caption, with a
  note that the content could not be opened;
- a file that could not be fetched (expired, over the limit, corrupt) or a type the agent
  cannot read: a note, and the reason on the message. A batch with nothing usable is answered
  with the agent's fallback text, without a model call.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import openai
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai.responses import ModelReply
from app.channels.service import channel_token
from app.media.download import MediaError, download
from app.media.refs import MEDIA_TYPES, MediaRef, media_refs
from app.media.store import object_key
from app.models import Agent, Attachment, Channel, Conversation, Message
from app.runtime import Runtime

log = logging.getLogger("app.media")

Part = dict[str, Any]
# Read by the model as images; anything else of kind image is described instead.
MODEL_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
LABELS = {"image": "photo", "sticker": "sticker", "voice": "voice note", "audio": "audio file",
          "video": "video", "document": "document"}


# Read with a transcription or as image input: what an agent's `media_credits` prices.
PRICED_TYPES = frozenset({"audio", "image", "sticker"})


def media_charge(agent: Agent, rows: list[Message]) -> int:
    """The extra credits a batch reserves for its media (refunded if the agent cannot use
    them: a fallback costs like a reply)."""
    return agent.media_credits if any(m.type in PRICED_TYPES for m in rows) else 0


def needs_media(rows: list[Message]) -> bool:
    """Whether a batch has anything for prepare() (a pure look at the claimed rows)."""
    return any(m.type in MEDIA_TYPES or m.text is None for m in rows)


@dataclass
class Prepared:
    # The model input content of each row that is not plain text.
    content: dict[uuid.UUID, list[Part]] = field(default_factory=dict)
    # Rows with nothing the agent can use, and why (stored as the message's status_reason).
    reasons: dict[uuid.UUID, str] = field(default_factory=dict)
    new_attachments: list[dict[str, Any]] = field(default_factory=list)
    usable: bool = False


async def prepare(rt: Runtime, channel: Channel, rows: list[Message]) -> Prepared:
    out = Prepared()
    ids = [m.id for m in rows if m.type in MEDIA_TYPES or m.text is None]
    async with rt.sessions() as session:
        raws: dict[uuid.UUID, Any] = dict((await session.execute(
            select(Message.id, Message.raw).where(Message.id.in_(ids))
        )).tuples().all())
        kept = {(a.message_id, a.position): a for a in (await session.scalars(
            select(Attachment).where(Attachment.message_id.in_(ids))
        )).all()}
    for m in rows:
        if m.id not in raws:
            out.usable = True  # a text row
            continue
        refs = media_refs(channel.kind, m.type, raws[m.id])
        # Web chat images are kept when they arrive: their rows are all there is.
        count = max(len(refs), sum(1 for mid, _ in kept if mid == m.id))
        if not count:
            out.reasons[m.id] = "unsupported_type"
            out.content[m.id] = [_text(
                f"[The customer sent a message of a type that cannot be read ({m.type}).]")]
            continue
        parts: list[Part] = []
        failed: str | None = None
        for position in range(count):
            att = kept.get((m.id, position))
            data: bytes | None = None
            if att is None:
                att, data = await _fetch_and_keep(rt, channel, m, position, refs[position])
                out.new_attachments.append(_row(att))
            elif att.storage_key and att.kind in ("image", "sticker", "document"):
                data = await rt.media.get(att.storage_key)
            made = _parts(att, data)
            if made is None:
                failed = att.error or "media_unreadable"
                parts.append(_text(f"[The customer sent a {LABELS.get(att.kind, att.kind)} "
                                   f"that could not be opened ({failed}).]"))
            else:
                parts.extend(made)
        out.content[m.id] = parts
        if failed is not None and count == 1:
            out.reasons[m.id] = failed
        else:
            out.usable = True
    return out


async def _fetch_and_keep(rt: Runtime, channel: Channel, m: Message, position: int,
                          ref: MediaRef) -> tuple[Attachment, bytes | None]:
    s = rt.settings
    att = Attachment(id=uuid.uuid4(), tenant_id=m.tenant_id, conversation_id=m.conversation_id,
                     message_id=m.id, position=position, kind=ref.kind, mime_type=ref.mime_type,
                     file_name=ref.file_name, caption=ref.caption or m.text)
    try:
        token = channel_token(channel, s) if ref.media_id else None
        got = await download(rt.http, s.meta_graph_api_base_url, token, ref, s.media_max_bytes)
    except (MediaError, ValueError) as exc:
        att.error = exc.reason if isinstance(exc, MediaError) else "media_download_failed"
        log.info("media of message %s not fetched: %s", m.id, exc)
        return att, None
    att.mime_type, att.size_bytes, att.sha256 = got.mime_type, len(got.data), got.sha256
    key = object_key(m.tenant_id, m.conversation_id, att.id)
    try:
        await rt.media.put(key, got.data, got.mime_type)
    except Exception:
        # The agent still reads the bytes in hand; only the dashboard's copy is missing.
        log.exception("media store refused the file of message %s", m.id)
    else:
        att.storage_key = key
    if ref.kind in ("voice", "audio"):
        att.transcript = await _transcribe(rt, att, got.data)
        if att.transcript is None:
            att.error = "transcription_failed"
    return att, got.data


async def _transcribe(rt: Runtime, att: Attachment, data: bytes) -> str | None:
    name = att.file_name or f"{att.kind}.{(att.mime_type or 'audio/ogg').split('/')[-1]}"
    try:
        result = await rt.openai.audio.transcriptions.create(
            model=rt.settings.transcription_model, file=(name, data, att.mime_type or "audio/ogg"),
        )
    except openai.OpenAIError as exc:
        log.warning("transcription failed for attachment %s: %s", att.id, exc)
        return None
    return (result.text or "").strip() or None


def _parts(att: Attachment, data: bytes | None) -> list[Part] | None:
    """What the model reads of one kept file; None when it cannot use it."""
    if att.error is not None:
        return None
    label = LABELS.get(att.kind, att.kind)
    mime = att.mime_type or "application/octet-stream"
    if att.kind in ("voice", "audio"):
        return [_text(f"[{label.capitalize()}, transcribed] {att.transcript or ''}".strip())]
    if att.kind in ("image", "sticker") and data is not None and mime in MODEL_IMAGE_TYPES:
        intro = att.caption or f"[The customer sent a {label}.]"
        return [_text(intro), {"type": "input_image", "image_url": _data_url(mime, data),
                               "detail": "auto"}]
    if att.kind == "document" and mime == "application/pdf" and data is not None:
        name = att.file_name or "document.pdf"
        intro = att.caption or f"[The customer sent the document {name}.]"
        return [_text(intro), {"type": "input_file", "filename": name,
                               "file_data": _data_url(mime, data)}]
    name = f' "{att.file_name}"' if att.file_name else ""
    caption = f' with the caption "{att.caption}"' if att.caption else ""
    return [_text(f"[The customer sent a {label}{name} ({mime}){caption}. "
                  "Its content could not be opened here.]")]


def _text(text: str) -> Part:
    return {"type": "input_text", "text": text}


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _row(att: Attachment) -> dict[str, Any]:
    return {c: getattr(att, c) for c in (
        "id", "tenant_id", "conversation_id", "message_id", "position", "kind", "mime_type",
        "file_name", "size_bytes", "sha256", "caption", "transcript", "storage_key", "error")}


async def save(session: AsyncSession, prepared: Prepared) -> None:
    """The batch's new attachment rows and the reasons of rows the agent could not use (kept
    by the settle: the message is answered, with the fallback, and shows why)."""
    if prepared.new_attachments:
        await session.execute(
            insert(Attachment).values(prepared.new_attachments)
            .on_conflict_do_nothing(index_elements=["message_id", "position"])
        )
    for mid, reason in prepared.reasons.items():
        await session.execute(update(Message).where(Message.id == mid).values(status_reason=reason))


def fallback_reply(rt: Runtime, agent: Agent, conv: Conversation) -> ModelReply:
    """The agent's fallback text, as a reply that keeps the conversation's model context."""
    return ModelReply(text=agent.media_fallback_text or rt.settings.media_fallback_text,
                      response_id=conv.context_response_id or "", model="", usage={},
                      sandbox=False, fallback=True)
