"""The floor for the ingest scenario: a bare Starlette endpoint that only checks the webhook
signature and does one Redis write. Whatever our endpoint costs above this is ours to cut."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = os.environ.get("META_APP_SECRET", "bench-secret").encode()
_redis: Redis | None = None


async def receive(request: Request) -> Response:
    raw = await request.body()
    expected = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    assert _redis is not None
    await _redis.rpush("bench:floor", raw)  # type: ignore[misc]  # redis-py's sync|async union
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global _redis
    _redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        yield
    finally:
        await _redis.aclose()


app = Starlette(routes=[Route("/webhooks/meta", receive, methods=["POST"])], lifespan=lifespan)
