"""The closed sets a conversation's messages and events are described with, as the API shows
them: a message's type, why it was skipped or failed, and what a ConversationUpdated is about.

Each is a `StrEnum` whose values are what the database and the events hold. Stored values come
from providers and from older or newer versions of the code (a rolling deploy publishes events
from both), so a value outside the set reads as OTHER instead of failing the query; a message
keeps its stored type in `Message.rawType`.
"""

from __future__ import annotations

import enum

import strawberry

from app.graphql.enums import member


@strawberry.enum(description=(
    "What a message is. WhatsApp and Instagram types as the provider names them (TEXT, IMAGE, "
    "REACTION, ...), TEMPLATE (a WhatsApp template the business sent), system markers "
    "(CONTEXT_RESET), and OTHER for any type not listed here "
    "(Message.rawType has the provider's name for it)."
))
class MessageKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    FILE = "file"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    ORDER = "order"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    POSTBACK = "postback"
    SHARE = "share"
    STORY_MENTION = "story_mention"
    STORY_REPLY = "story_reply"
    TEMPLATE = "template"
    IG_REEL = "ig_reel"
    DELETED = "deleted"
    UNSUPPORTED = "unsupported"
    CONTEXT_RESET = "context_reset"
    OTHER = "other"


@strawberry.enum(description=(
    "Why a message is SKIPPED, FAILED or still PENDING. Skipped inbound: HUMAN_MODE, NO_CREDITS, "
    "UNSUPPORTED_TYPE, ARCHIVED, NO_AGENT, CHANNEL_INACTIVE, NEEDS_REAUTH, WINDOW_CLOSED. Failed "
    "inbound (the model call; retryable): MODEL_ERROR, MODEL_UNREACHABLE, MODEL_FAILED, "
    "MODEL_EMPTY, BREAKER_OPEN; or SEND_FAILED (its reply could not be sent). Failed outbound: "
    "PROVIDER_ERROR (errorCode, errorTitle), TEMPLATE_ERROR (Meta refused a template: errorCode, "
    "errorTitle say what to fix), WINDOW_CLOSED, REAUTH (the channel's token was "
    "refused), NO_CREDITS (a retried reply could not be paid for). Pending outbound: SENDING "
    "(the request to the provider is under way). Answered inbound whose file could not be used "
    "(the agent's fallback reply or its words say so): MEDIA_EXPIRED, MEDIA_TOO_LARGE, "
    "MEDIA_CORRUPT, MEDIA_DOWNLOAD_FAILED, MEDIA_UNREADABLE, TRANSCRIPTION_FAILED, "
    "UNSUPPORTED_TYPE. OTHER: a reason not listed here."
))
class StatusReason(enum.StrEnum):
    HUMAN_MODE = "human_mode"
    NO_CREDITS = "no_credits"
    UNSUPPORTED_TYPE = "unsupported_type"
    ARCHIVED = "archived"
    NO_AGENT = "no_agent"
    CHANNEL_INACTIVE = "channel_inactive"
    NEEDS_REAUTH = "needs_reauth"
    WINDOW_CLOSED = "window_closed"
    MODEL_ERROR = "model_error"
    MODEL_UNREACHABLE = "model_unreachable"
    MODEL_FAILED = "model_failed"
    MODEL_EMPTY = "model_empty"
    BREAKER_OPEN = "breaker_open"
    SEND_FAILED = "send_failed"
    PROVIDER_ERROR = "provider_error"
    TEMPLATE_ERROR = "template_error"
    MEDIA_EXPIRED = "media_expired"
    MEDIA_TOO_LARGE = "media_too_large"
    MEDIA_CORRUPT = "media_corrupt"
    MEDIA_DOWNLOAD_FAILED = "media_download_failed"
    MEDIA_UNREADABLE = "media_unreadable"
    TRANSCRIPTION_FAILED = "transcription_failed"
    REAUTH = "reauth"
    SENDING = "sending"
    OTHER = "other"


@strawberry.enum(description=(
    "What a ConversationUpdated is about: MODE (set by an operator), ARCHIVED, LEAD (a new "
    "extraction, leadId), NO_CREDITS (a message was skipped for lack of credits), "
    "HANDOFF_REQUESTED (the agent asked for a person), LABELS (labels added or removed), STATUS "
    "(resolved, reopened, pending or snoozed: status, snoozedUntil), ASSIGNEE (assigned or "
    "unassigned: assigneeId), SYNC "
    "(the current state, sent after a replay), OTHER (a change this version does not name: "
    "refetch the conversation)."
))
class ConversationChange(enum.StrEnum):
    MODE = "mode"
    ARCHIVED = "archived"
    LEAD = "lead"
    NO_CREDITS = "no_credits"
    HANDOFF_REQUESTED = "handoff_requested"
    LABELS = "labels"
    STATUS = "status"
    ASSIGNEE = "assignee"
    SYNC = "sync"
    OTHER = "other"


def message_kind(value: str | None) -> MessageKind:
    return member(MessageKind, value or "text", MessageKind.OTHER)


def reason_of(value: str | None) -> StatusReason | None:
    return None if value is None else member(StatusReason, value, StatusReason.OTHER)
