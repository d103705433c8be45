"""HTTP plumbing shared by every endpoint: correlation ids and the JSON error shape."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import correlation_id

log = logging.getLogger("app.http")

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION",
    429: "RATE_LIMITED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {
            "error": message,
            "code": code or _CODES.get(status, "ERROR"),
            "correlationId": correlation_id.get(),
            "timestamp": datetime.now(UTC).isoformat(),
        },
        status_code=status,
        headers=headers,
    )


class CorrelationIdMiddleware:
    """Takes `X-Correlation-ID` from the request (or makes one) and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cid = None
        for name, value in scope.get("headers", []):
            if name == b"x-correlation-id":
                cid = value.decode("latin-1")[:100]
                break
        cid = cid or uuid.uuid4().hex
        token = correlation_id.set(cid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", cid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        return await unhandled_exception_handler(request, exc)
    return error_response(exc.status_code, exc.detail or "error", headers=exc.headers)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it passes `limit` bytes (without reading the rest).

    A client that goes away mid-body raises ClientDisconnect, answered by
    `client_disconnected` below: nobody is left to read an answer, and it is not an error.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    log.info("client disconnected before its request was read (%s %s)",
             request.method, request.url.path)
    # Never delivered; 499 is what proxies log for a request the client abandoned.
    return Response(status_code=499)
