"""The fake Graph server's media: what WhatsApp and Instagram serve for customers' files.

- ``POST /_fake/media``: ``{"media_id", "data_b64", "mime_type", "sha256"?, "file_size"?,
  "expired"?: bool, "url_expired"?: bool}`` registers a file. ``sha256`` defaults to the
  bytes' own; ``file_size`` (what the lookup claims) to their length.
- ``GET /{version}/{media_id}`` (the lookup, with a bearer token): ``{"url", "mime_type",
  "sha256", "file_size", "id", "messaging_product"}``, or Meta's error 100 for an unknown or
  ``expired`` id.
- ``GET /_fake/media/{media_id}/download``: the bytes, to a bearer token only (as Meta's
  5-minute URL); 404 when ``url_expired``. Without a token: 401.
- ``GET /_fake/cdn/{media_id}``: the bytes without a token (an Instagram CDN URL).
- ``POST /{version}/{phone_number_id}/media`` (multipart ``file``, ``type``,
  ``messaging_product``): an upload, answered ``{"id": <media id>}``; the file is then served
  like a registered one.
- ``GET /_fake/downloads``: every lookup, download and upload, with its authorization.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Json = dict[str, Any]


class MediaState:
    def __init__(self) -> None:
        self.files: dict[str, Json] = {}
        self.log: list[Json] = []

    def reset(self) -> None:
        self.files.clear()
        self.log.clear()


def _token(request: Request) -> str:
    auth = request.headers.get("authorization") or ""
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def _error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "OAuthException", "code": code,
                                   "fbtrace_id": "Fake" + uuid.uuid4().hex[:8]}}, status)


def media_lookup(media: MediaState, request: Request, media_id: str) -> JSONResponse:
    token = _token(request)
    media.log.append({"ts": time.time(), "op": "lookup", "media_id": media_id,
                      "authorization": request.headers.get("authorization")})
    if not token:
        return _error(190, "Invalid OAuth access token", 401)
    found = media.files[media_id]
    if found.get("expired"):
        return _error(100, f"Unsupported get request. Object with ID '{media_id}' does not "
                           "exist, cannot be loaded due to missing permissions, or does not "
                           "support this operation")
    root = str(request.base_url).rstrip("/")
    return JSONResponse({"messaging_product": "whatsapp", "id": media_id,
                         "url": f"{root}/_fake/media/{media_id}/download",
                         "mime_type": found["mime_type"], "sha256": found["sha256"],
                         "file_size": found["file_size"]})


def media_error(media: MediaState, body: Json) -> Json | None:
    """A WhatsApp media send must name a media id the fake knows (uploaded or registered)."""
    kind = body.get("type")
    if body.get("messaging_product") != "whatsapp" or kind not in (
            "image", "document", "audio", "video", "sticker"):
        return None
    payload = body.get(kind)
    media_id = payload.get("id") if isinstance(payload, dict) else None
    if media_id in media.files:
        return None
    return {"error": {"message": f"(#131053) Media upload error: unknown media id {media_id!r}",
                      "type": "OAuthException", "code": 131053,
                      "fbtrace_id": "Fake" + uuid.uuid4().hex[:8]}}


def media_routes(media: MediaState) -> list[Route]:
    def register(media_id: str, data: bytes, mime: str, **extra: Any) -> None:
        media.files[media_id] = {"data": data, "mime_type": mime,
                                 "sha256": extra.get("sha256") or hashlib.sha256(data).hexdigest(),
                                 "file_size": extra.get("file_size") or len(data),
                                 "expired": bool(extra.get("expired")),
                                 "url_expired": bool(extra.get("url_expired"))}

    async def add(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            data = base64.b64decode(body["data_b64"])
            media_id, mime = str(body["media_id"]), str(body["mime_type"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {'media_id', 'data_b64', 'mime_type'}"}, 400)
        register(media_id, data, mime, **{k: body.get(k) for k in
                                          ("sha256", "file_size", "expired", "url_expired")})
        return JSONResponse({"ok": True})

    async def download(request: Request) -> Response:
        media_id = request.path_params["media_id"]
        media.log.append({"ts": time.time(), "op": "download", "media_id": media_id,
                          "authorization": request.headers.get("authorization")})
        if not _token(request):
            return _error(190, "Invalid OAuth access token", 401)
        found = media.files.get(media_id)
        if found is None or found["url_expired"]:
            return Response(b"", 404)
        return Response(found["data"], media_type=found["mime_type"])

    async def cdn(request: Request) -> Response:
        media_id = request.path_params["media_id"]
        media.log.append({"ts": time.time(), "op": "cdn", "media_id": media_id})
        found = media.files.get(media_id)
        if found is None or found["url_expired"]:
            return Response(b"", 404)
        return Response(found["data"], media_type=found["mime_type"])

    async def upload(request: Request) -> JSONResponse:
        account_id = request.path_params["account_id"]
        if not _token(request):
            return _error(190, "Invalid OAuth access token", 401)
        form = await request.form()
        file = form.get("file")
        if file is None or isinstance(file, str) or form.get("messaging_product") != "whatsapp":
            return _error(100, "Param file and messaging_product=whatsapp are required")
        data = await file.read()
        mime = str(form.get("type") or file.content_type or "application/octet-stream")
        media_id = f"{abs(hash((account_id, time.time_ns()))) % 10**15}"
        register(media_id, data, mime)
        media.log.append({"ts": time.time(), "op": "upload", "media_id": media_id,
                          "account_id": account_id, "mime_type": mime, "size": len(data),
                          "file_name": file.filename,
                          "authorization": request.headers.get("authorization")})
        return JSONResponse({"id": media_id})

    async def listing(_: Request) -> JSONResponse:
        return JSONResponse({"downloads": media.log})

    return [
        Route("/_fake/media", add, methods=["POST"]),
        Route("/_fake/media/{media_id}/download", download, methods=["GET"]),
        Route("/_fake/cdn/{media_id}", cdn, methods=["GET"]),
        Route("/_fake/downloads", listing, methods=["GET"]),
        Route("/{version}/{account_id}/media", upload, methods=["POST"]),
    ]
