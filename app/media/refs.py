"""What files a stored inbound message carries, read from the provider's payload (pure).

WhatsApp names a media id (downloaded through the Graph API with the channel's token);
Instagram gives a CDN URL. Meta's per-type size limits bound every download, below the
platform's own MEDIA_MAX_BYTES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.channels.adapters.payload import as_dict, as_list, as_str

MB = 1024 * 1024
# WhatsApp Cloud API media limits per type (stickers: 500 KB animated, 100 KB static).
WHATSAPP_LIMITS = {"audio": 16 * MB, "voice": 16 * MB, "image": 5 * MB, "video": 16 * MB,
                   "document": 100 * MB, "sticker": 500 * 1024}
# Instagram Messaging attachment limits.
INSTAGRAM_LIMITS = {"image": 8 * MB, "audio": 25 * MB, "video": 25 * MB, "document": 25 * MB}
WHATSAPP_MEDIA = ("audio", "image", "sticker", "document", "video")
INSTAGRAM_KINDS = {"image": "image", "audio": "audio", "video": "video", "file": "document"}
# Message types whose files the worker fetches before the model call.
MEDIA_TYPES = frozenset({*WHATSAPP_MEDIA, "file"})


@dataclass(frozen=True)
class MediaRef:
    kind: str  # image, sticker, audio, voice, video, document
    limit: int  # Meta's limit for the kind, in bytes
    media_id: str | None = None  # WhatsApp: GET {graph}/{media_id}
    url: str | None = None  # Instagram: the CDN URL
    mime_type: str | None = None
    sha256: str | None = None  # WhatsApp: hex SHA-256 of the file
    file_name: str | None = None
    caption: str | None = None


def media_refs(channel_kind: str, mtype: str, raw: dict[str, Any] | None) -> list[MediaRef]:
    raw = as_dict(raw)
    if channel_kind == "whatsapp" and mtype in WHATSAPP_MEDIA:
        m = as_dict(raw.get(mtype))
        media_id = as_str(m.get("id"))
        if media_id is None:
            return []
        kind = "voice" if mtype == "audio" and m.get("voice") is True else mtype
        return [MediaRef(kind=kind, limit=WHATSAPP_LIMITS[kind], media_id=media_id,
                         mime_type=_mime(m.get("mime_type")), sha256=as_str(m.get("sha256")),
                         file_name=_name(m.get("filename")), caption=as_str(m.get("caption")))]
    if channel_kind == "instagram":
        refs = []
        for att in as_list(as_dict(raw.get("message")).get("attachments")):
            a = as_dict(att)
            ig_kind = INSTAGRAM_KINDS.get(as_str(a.get("type")) or "")
            url = as_str(as_dict(a.get("payload")).get("url"))
            # The payload is signed by Meta (the webhook signature): its URL is trusted.
            if ig_kind and url and url.startswith(("https://", "http://")):
                refs.append(MediaRef(kind=ig_kind, limit=INSTAGRAM_LIMITS[ig_kind], url=url))
        return refs
    return []


def _mime(value: Any) -> str | None:
    # "audio/ogg; codecs=opus": the type is what matters.
    text = as_str(value)
    return text.split(";")[0].strip().lower()[:128] if text else None


def _name(value: Any) -> str | None:
    text = as_str(value)
    return text.replace("/", "_").replace("\\", "_")[:255] if text else None


def sniff(data: bytes) -> str | None:
    """The image type the bytes are (JPEG, PNG, WebP), whatever a request claims."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
