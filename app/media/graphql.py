"""Message.attachments: the files a message carries, with a short-lived signed link."""

from __future__ import annotations

import enum

import strawberry

from app.config import Settings
from app.media.links import signed_path
from app.models import Attachment


@strawberry.enum(description="What a file is: VOICE is a WhatsApp voice note.")
class AttachmentKind(enum.Enum):
    IMAGE = "image"
    STICKER = "sticker"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO = "video"
    DOCUMENT = "document"


@strawberry.type(name="Attachment")
class AttachmentType:
    id: strawberry.ID
    kind: AttachmentKind
    mime_type: str | None
    file_name: str | None
    size: int | None = strawberry.field(description="In bytes, as kept.")
    caption: str | None
    transcript: str | None = strawberry.field(description=(
        "Voice notes and audio: what was said, as the agent read it."))
    error: str | None = strawberry.field(description=(
        "Why the file could not be kept or read: media_expired, media_too_large, "
        "media_corrupt, media_download_failed, transcription_failed."))
    url: str | None = strawberry.field(description=(
        "A signed link to the file, relative to the API's origin, valid for MEDIA_URL_TTL_S "
        "(5 minutes by default); null when the file was not kept."))

    @classmethod
    def from_row(cls, a: Attachment, settings: Settings) -> AttachmentType:
        return cls(
            id=strawberry.ID(str(a.id)), kind=AttachmentKind(a.kind), mime_type=a.mime_type,
            file_name=a.file_name, size=a.size_bytes, caption=a.caption,
            transcript=a.transcript, error=a.error,
            url=signed_path(settings, a.id, a.tenant_id) if a.storage_key else None,
        )
