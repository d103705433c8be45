"""`POST /widget/{public_id}/images`: a web chat visitor attaches an image.

The body is the image itself (`Content-Type: image/jpeg`, `image/png` or `image/webp`, at most
WIDGET_IMAGE_MAX_BYTES), with `clientMessageId` and an optional `caption` in the query. The
bytes must be what the type says. The image is kept in the media store and stored as an
`image` message with its attachment in one transaction; from there it takes the same path as
a WhatsApp photo (the agent reads it as image input)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.channels.adapters.base import InboundMessage
from app.conversations.events import message_dict
from app.db import transaction
from app.effects import flush, take
from app.http import read_limited
from app.media import repository as media_repo
from app.media.refs import sniff
from app.media.store import object_key
from app.metrics import INBOUND_MESSAGES, WEBHOOK_REQUESTS
from app.models import Attachment, Message
from app.models.message import WITHOUT_RAW
from app.pipeline.ingest import ingest_message
from app.webchat.api import Call, check_client_id, endpoint, refuse_disabled, visitor_view
from app.webchat.guard import WidgetError
from app.webhooks import admission

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


@endpoint("send", need_visitor=True)
async def send_image(request: Request, call: Call) -> Response:
    refuse_disabled(call.channel)
    s = call.rt.settings
    declared = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if declared not in IMAGE_TYPES:
        raise WidgetError(415, "send a JPEG, PNG or WebP image as the body "
                               "(Content-Type image/jpeg, image/png or image/webp)",
                          "UNSUPPORTED_MEDIA_TYPE")
    caption = (request.query_params.get("caption") or "").replace("\x00", "").strip() or None
    if caption and len(caption) > s.widget_max_message_chars:
        raise WidgetError(422, f"caption is {len(caption)} characters long; the limit is "
                               f"{s.widget_max_message_chars}", "MESSAGE_TOO_LONG")
    client_id = check_client_id(request.query_params.get("clientMessageId"))
    data = await read_limited(request, s.widget_image_max_bytes)
    if data is None:
        raise WidgetError(413, f"the image is larger than {s.widget_image_max_bytes // 1024} KB",
                          "PAYLOAD_TOO_LARGE")
    if not data or sniff(data) != declared:
        raise WidgetError(422, f"the body is not a {declared} image", "VALIDATION")
    visitor = call.visitor_id
    provider_id = f"{visitor}:{client_id}"
    msg = InboundMessage(
        account_id=call.channel.provider_account_id, provider_message_id=provider_id,
        external_id=visitor, type="image", text=caption, answerable=True,
        raw={"origin": call.origin, "clientMessageId": client_id,
             "image": {"mime_type": declared, "size": len(data)}},
    )
    try:
        async with admission.of(request).admit(), transaction(call.rt.sessions) as session:
            stored = await ingest_message(session, call.channel, msg)
            if stored is not None:
                att = Attachment(id=uuid.uuid4(), tenant_id=stored.tenant_id,
                                 conversation_id=stored.conversation_id, message_id=stored.id,
                                 position=0, kind="image", mime_type=declared,
                                 size_bytes=len(data), caption=caption)
                att.storage_key = object_key(att.tenant_id, att.conversation_id, att.id)
                # Kept before the commit: the worker woken by it finds the file.
                await call.rt.media.put(att.storage_key, data, declared)
                session.add(att)
            row = stored or await session.scalar(
                select(Message).options(WITHOUT_RAW).where(
                    Message.channel_id == call.channel.id, Message.provider_message_id == provider_id)
            )
            files = await media_repo.attachments_of(
                session, call.channel.tenant_id, [row.id]) if row is not None else {}
    except admission.AtCapacity:
        WEBHOOK_REQUESTS.labels("widget", "at_capacity").inc()
        raise WidgetError(503, "the service is at capacity; retry later", "UNAVAILABLE",
                          headers={"Retry-After": str(admission.RETRY_AFTER_S)}) from None
    await flush(take(session), call.rt.redis)
    if row is None:  # pragma: no cover - the unique row exists once ingest found a duplicate
        raise WidgetError(409, "message could not be stored; retry", "CONFLICT")
    if stored is not None:
        INBOUND_MESSAGES.labels("webchat").inc()
    view = visitor_view(message_dict(row))
    view["attachments"] = [media_repo.visitor_view(a, s) for a in files.get(row.id, [])]
    return JSONResponse({"message": view, "duplicate": stored is None},
                        status_code=201 if stored is not None else 200)
