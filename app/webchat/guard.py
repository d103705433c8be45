"""What stands between the public internet and the widget endpoints: visitor tokens, per-channel
CORS and rate limits. Nothing here touches Postgres; every refusal happens before any write.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.crypto import sign
from app.http import error_response

# v2 carries its issue time; v1 tokens (no lifetime) are no longer accepted.
TOKEN_VERSION = "wv2"  # noqa: S105 - a format tag, not a secret
# An answer to a request whose token has used up this share of its lifetime carries a fresh
# token in RENEWED_TOKEN_HEADER: a visitor who keeps coming back never runs out, and a token
# left unused for the whole lifetime (WIDGET_TOKEN_TTL_HOURS) is refused.
RENEW_FRACTION = 0.1
RENEWED_TOKEN_HEADER = "X-Visitor-Token"  # noqa: S105 - a header name, not a secret
VISITOR_ID = re.compile(r"^v_[A-Za-z0-9_-]{16,40}$")
PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
RATE_WINDOW_S = 60
# Several visitors share one address behind an office NAT or a mobile carrier, so the
# per-address budget is a multiple of the per-visitor one rather than the same number.
ADDRESS_FACTOR = 5
# Reading (history, stream reconnects) is cheap next to sending (a model call and a credit),
# so it gets a larger budget; it only has to stop a client stuck in a loop.
READ_FACTOR = 6
ALLOWED_HEADERS = "authorization, content-type, x-correlation-id"
EXPOSED_HEADERS = "retry-after, x-correlation-id, x-visitor-token"


class WidgetError(Exception):
    """An expected refusal, answered in the JSON error shape of app.http."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.message, self.code, headers=self.headers or None)


# --- visitor tokens -------------------------------------------------------------------------

def _secret(settings: Settings) -> str:
    # A key of its own, derived from the encryption key, so a token signature never doubles as
    # anything else signed with that key (and rotating the key logs every visitor out).
    return sign("mca widget visitor token v1", settings.required("app_encryption_key"))


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Grant:
    """What a genuine, unexpired token grants: one visitor on one channel, since `issued_at`."""

    visitor: str
    issued_at: int

    def due_for_renewal(self, settings: Settings, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.issued_at
        return age >= _lifetime_s(settings) * RENEW_FRACTION


def _lifetime_s(settings: Settings) -> int:
    return settings.widget_token_ttl_hours * 3600


def issue_token(settings: Settings, channel_id: uuid.UUID, visitor_id: str,
                now: float | None = None) -> str:
    """`wv2.<base64url(channel:visitor:issued_at)>.<hmac>`: opaque to the page, checked
    without a lookup."""
    issued = int(time.time() if now is None else now)
    raw = f"{channel_id}:{visitor_id}:{issued}".encode()
    head = f"{TOKEN_VERSION}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"
    return f"{head}.{sign(head, _secret(settings))}"


def check_token(settings: Settings, token: str, channel_id: uuid.UUID,
                now: float | None = None) -> Grant:
    """The grant of a genuine token issued for this channel and not idle past its lifetime;
    otherwise a 401 saying which (the widget starts a new session on either)."""
    parts = token.split(".")
    invalid = WidgetError(401, "visitor token is not valid for this chat", "UNAUTHENTICATED")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or len(token) > 300:
        raise invalid
    head = f"{parts[0]}.{parts[1]}"
    # Bytes: the header may carry any latin-1 text, and compare_digest refuses non-ASCII str.
    if not hmac.compare_digest(sign(head, _secret(settings)).encode(), parts[2].encode()):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid from None
    fields = raw.split(":")
    if len(fields) != 3:
        raise invalid
    channel, visitor, issued = fields
    if channel != str(channel_id) or not VISITOR_ID.match(visitor) or not issued.isdigit():
        raise invalid
    if (time.time() if now is None else now) - int(issued) > _lifetime_s(settings):
        raise WidgetError(401, "visitor token has expired; start a new session",
                          "UNAUTHENTICATED")
    return Grant(visitor, int(issued))


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# --- CORS ----------------------------------------------------------------------------------

def origin_allowed(origin: str | None, channel_settings: dict[str, Any]) -> bool:
    """Browsers send Origin on every cross-origin request and on same-origin POSTs; a request
    without one is not a cross-site browser request, which is all CORS can police. An Origin,
    when present, must be listed exactly (scheme, host and port) in the channel's settings."""
    if origin is None:
        return True
    allowed = channel_settings.get("allowed_origins") or []
    if not isinstance(allowed, list):
        return False
    # Scheme and host are case-insensitive; a trailing slash is a common copy-paste artefact.
    return origin.rstrip("/").lower() in {str(a).rstrip("/").lower() for a in allowed}


def cors_headers(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        **cors_headers(origin),
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
    }


# --- rate limits ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    scope: str  # send, session, read
    per_visitor: int | None
    per_address: int


def budgets(settings: Settings) -> dict[str, Budget]:
    rate = settings.widget_rate_per_minute
    return {
        "send": Budget("send", rate, rate * ADDRESS_FACTOR),
        # A token is kept in localStorage, so a real visitor asks for one once; only a script
        # minting identities asks often.
        "session": Budget("session", None, rate * ADDRESS_FACTOR),
        "read": Budget("read", rate * READ_FACTOR, rate * READ_FACTOR * ADDRESS_FACTOR),
    }


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's --proxy-headers/--forwarded-allow-ips puts the real client
    # here; trusting X-Forwarded-For ourselves would let anyone pick their own bucket.
    return request.client.host if request.client else "unknown"


async def _count(redis: Any, key: str, now: float) -> tuple[int, int]:
    """Fixed one-minute window: (requests so far in this window, seconds until it ends)."""
    window = int(now) // RATE_WINDOW_S
    full = f"mca:wrl:{key}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(full)
        pipe.expire(full, RATE_WINDOW_S + 5)
        count, _ = await pipe.execute()
    return int(count), max(1, RATE_WINDOW_S - int(now) % RATE_WINDOW_S)


async def spend(redis: Any, budget: Budget, channel_id: uuid.UUID, address: str,
                visitor: str | None) -> None:
    """Count one request against the address and visitor budgets; raise 429 when either is spent."""
    now = time.time()
    checks: list[tuple[str, int, str]] = [
        (f"{budget.scope}:a:{address}", budget.per_address, "from this address")
    ]
    if visitor is not None and budget.per_visitor is not None:
        checks.append((f"{budget.scope}:v:{channel_id}:{visitor}", budget.per_visitor, ""))
    for key, limit, where in checks:
        count, retry_after = await _count(redis, key, now)
        if count > limit:
            what = "messages" if budget.scope == "send" else "requests"
            raise WidgetError(
                429,
                f"too many {what}{' ' + where if where else ''}: at most {limit} a minute; "
                f"retry in {retry_after} s",
                "RATE_LIMITED",
                headers={"Retry-After": str(retry_after)},
            )
