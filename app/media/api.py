"""GET /media/{attachment id}?expires=&sig=: a kept file, to whoever holds a live signed link
(Message.attachments.url). An expired, altered or foreign link is refused; the bytes are
served so that a browser never runs them as a page of this origin."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.http import error_response
from app.media.links import valid
from app.media.uploads import routes as upload_routes
from app.models import Attachment
from app.runtime import Runtime

# Shown in the browser (the console's <img>, <audio>, <video>, a PDF tab); anything else is
# downloaded.
INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "audio/", "video/",
                "application/pdf")


async def media_file(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    try:
        attachment_id = uuid.UUID(request.path_params["attachment_id"])
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        return error_response(404, "media not found")
    sig = request.query_params.get("sig", "")
    if expires < time.time():
        return error_response(403, "this media link has expired; ask the API for a new one",
                              code="LINK_EXPIRED")
    async with rt.sessions() as session:
        att = await session.scalar(select(Attachment).where(Attachment.id == attachment_id))
    if att is None or not valid(rt.settings, att.id, att.tenant_id, expires, sig):
        # Forged, altered or signed for another file: as if there were none.
        return error_response(403, "invalid media link", code="LINK_INVALID")
    data = await rt.media.get(att.storage_key) if att.storage_key else None
    if data is None:
        return error_response(404, "media not found")
    mime = att.mime_type or "application/octet-stream"
    inline = mime.startswith(INLINE_TYPES)
    name = att.file_name or f"{att.kind}-{att.id}"
    plain = name.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    disposition = (f'{"inline" if inline else "attachment"}; filename="{plain}"; '
                   f"filename*=UTF-8''{quote(name)}")
    return Response(data, media_type=mime if inline else "application/octet-stream", headers={
        "Content-Disposition": disposition,
        "Cache-Control": f"private, max-age={max(0, expires - int(time.time()))}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


def routes() -> list[BaseRoute]:
    return [*upload_routes(), Route("/media/{attachment_id}", media_file, methods=["GET"])]
