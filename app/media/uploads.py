"""`POST /media/uploads?conversationId=&fileName=`: an operator's file, before it is sent.

Authenticated with a tenant API key, like /graphql. The body is the file, its
`Content-Type` one of UPLOAD_TYPES, within WhatsApp's limit for its kind and MEDIA_MAX_BYTES.
The answer's `id` goes into `sendOperatorMessage(attachments: [...])`, which sends it (on
WhatsApp: uploaded to /{phone_number_id}/media and sent by its id)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.db import transaction
from app.graphql.context import rest_tenant
from app.http import error_response, read_limited
from app.media.refs import WHATSAPP_LIMITS, sniff
from app.media.store import object_key
from app.models import Attachment, Conversation
from app.runtime import Runtime

# What WhatsApp sends as an image or a document (Cloud API supported media types).
IMAGE_TYPES = ("image/jpeg", "image/png")
DOCUMENT_TYPES = (
    "application/pdf", "text/plain", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
UPLOAD_TYPES = IMAGE_TYPES + DOCUMENT_TYPES


async def upload(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    principal = await rest_tenant(request, "uploads need a tenant API key")
    if isinstance(principal, Response):
        return principal
    mime = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if mime not in UPLOAD_TYPES:
        return error_response(415, "send a JPEG or PNG image, or a PDF, text or Office document, "
                                   "with its Content-Type")
    kind = "image" if mime in IMAGE_TYPES else "document"
    try:
        conversation_id = uuid.UUID(request.query_params.get("conversationId", ""))
    except ValueError:
        return error_response(400, "conversationId must be a conversation id")
    raw_name = request.query_params.get("fileName") or ""
    # Control characters (NUL among them, which Postgres text cannot hold) and path separators
    # have no place in a file name shown to people and sent to Meta.
    name = "".join("_" if c in "/\\" else c for c in raw_name
                   if c.isprintable()).strip()[:255] or None
    limit = min(WHATSAPP_LIMITS[kind], rt.settings.media_max_bytes)
    data = await read_limited(request, limit)
    if data is None:
        return error_response(413, f"the file is larger than {limit // 1024} KB, the limit for "
                                   f"a {kind}")
    if not data:
        return error_response(422, "the file is empty")
    if kind == "image" and sniff(data) != mime:
        return error_response(422, f"the body is not a {mime} image")
    async with transaction(rt.sessions) as session:
        conv = await session.scalar(select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == principal.tenant_id))
        if conv is None:
            return error_response(404, "conversation not found")
        att = Attachment(id=uuid.uuid4(), tenant_id=conv.tenant_id, conversation_id=conv.id,
                         message_id=None, position=0, kind=kind, mime_type=mime, file_name=name,
                         size_bytes=len(data))
        att.storage_key = object_key(att.tenant_id, att.conversation_id, att.id)
        await rt.media.put(att.storage_key, data, mime)
        session.add(att)
    return JSONResponse({"id": str(att.id), "kind": kind, "mimeType": mime, "fileName": name,
                         "size": len(data)}, status_code=201)


def routes() -> list[BaseRoute]:
    return [Route("/media/uploads", upload, methods=["POST"])]
