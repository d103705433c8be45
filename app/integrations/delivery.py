"""Posting the outbox: signed, at least once, with backoff for up to a day, never in the way
of the message path (its own loop, HTTP client and connection budget in every worker).

A receiver verifies `X-MCA-Signature: t=<unix seconds>,v1=<hex>` where v1 is
HMAC-SHA256(secret, f"{t}.{raw body}") and rejects a `t` far from its clock (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import text

from app.crypto import decrypt_token
from app.realtime.topics import tenant_topic

if TYPE_CHECKING:
    # The runtime installs this package's outbox hook: its type only, for annotations.
    from app.runtime import Runtime

log = logging.getLogger("app.integrations.delivery")

BATCH = 50
CONCURRENCY = 10
LEASE_S = 60
IDLE_POLL_S = 1.0
ATTEMPT_LOG_KEEP = 20
BODY_EXCERPT = 200

_CLAIM = text("""
UPDATE event_deliveries AS d SET locked_until = now() + make_interval(secs => :lease)
FROM (
    SELECT id FROM event_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY next_attempt_at, created_at
    LIMIT :n FOR UPDATE SKIP LOCKED
) AS due, webhook_endpoints AS e
WHERE d.id = due.id AND e.id = d.endpoint_id
RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.attempts,
          d.created_at, e.url, e.secret_encrypted, e.enabled
""")
_DELIVERED = text("""
UPDATE event_deliveries SET status = 'delivered', delivered_at = now(), locked_until = NULL,
    attempts = attempts + 1, last_attempt_at = now(), last_status_code = :code,
    last_error = NULL, attempt_log = (attempt_log || CAST(:entry AS jsonb))
WHERE id = :id
""")
_RETRY = text("""
UPDATE event_deliveries SET status = :status, locked_until = NULL, attempts = attempts + 1,
    last_attempt_at = now(), last_status_code = :code, last_error = :error,
    next_attempt_at = now() + make_interval(secs => :delay),
    attempt_log = (attempt_log || CAST(:entry AS jsonb))
WHERE id = :id
""")
_TRIM = text("""
UPDATE event_deliveries SET attempt_log = (
    SELECT COALESCE(jsonb_agg(x ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(attempt_log)
        WITH ORDINALITY AS a(x, n)
    WHERE n > jsonb_array_length(attempt_log) - :keep)
WHERE id = :id AND jsonb_array_length(attempt_log) > :keep
""")
_ENDPOINT_OK = text(
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :id AND failing_since IS NOT NULL"
)
# The first failure starts the clock; an endpoint failing for longer than allowed is disabled.
# `was_enabled` tells the call that switched it off from later ones.
_ENDPOINT_FAILED = text("""
UPDATE webhook_endpoints AS e SET failing_since = COALESCE(e.failing_since, now()),
    enabled = CASE WHEN COALESCE(e.failing_since, now()) < now() - make_interval(secs => :disable_after)
                   THEN false ELSE e.enabled END,
    disabled_reason = CASE WHEN e.enabled AND COALESCE(e.failing_since, now())
                                < now() - make_interval(secs => :disable_after)
                           THEN :reason ELSE e.disabled_reason END
FROM (SELECT id, enabled FROM webhook_endpoints WHERE id = :id FOR UPDATE) AS before
WHERE e.id = before.id
RETURNING e.tenant_id, e.enabled, e.disabled_reason, before.enabled AS was_enabled
""")


class Unsafe(Exception):
    """The endpoint's address may not be called (scheme or a private address)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_s(attempts: int, base_s: float = 10.0) -> float:
    """After the n-th failed attempt: 10 s, 20 s, 40 s ... at most an hour, with jitter so a
    receiver coming back is not hit by every retry at once."""
    wait: float = min(3600.0, base_s * 2 ** min(max(0, attempts - 1), 20))
    return wait * random.uniform(0.8, 1.2)


async def check_address(url: str, *, allow_private: bool, require_https: bool) -> None:
    """Refuse non-https (when required) and hosts resolving to private, loopback, link-local or
    otherwise internal addresses. Checked before every attempt: DNS may change after
    registration."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Unsafe("the URL must be http(s)://host/...")
    if require_https and parts.scheme != "https":
        raise Unsafe("the URL must use https")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unsafe(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global or addr.is_multicast:
            raise Unsafe(f"{parts.hostname} resolves to a non-public address ({addr})")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    code: int | None
    error: str | None
    duration_ms: int


async def post(client: httpx.AsyncClient, row: Any, secret: str, *, allow_private: bool,
               require_https: bool) -> Outcome:
    started = time.monotonic()
    body = orjson.dumps(row["payload"])
    now = int(time.time())
    try:
        await check_address(row["url"], allow_private=allow_private, require_https=require_https)
        resp = await client.post(row["url"], content=body, headers={
            "Content-Type": "application/json",
            "User-Agent": "mca-webhooks/1",
            "X-MCA-Event-Id": str(row["event_id"]),
            "X-MCA-Event-Type": row["event_type"],
            "X-MCA-Signature": signature(secret, now, body),
        })
    except Unsafe as exc:
        return Outcome(False, None, f"refused: {exc}", _ms(started))
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    ok = 200 <= resp.status_code < 300
    error = None if ok else f"HTTP {resp.status_code}: {resp.text[:BODY_EXCERPT]}"
    return Outcome(ok, resp.status_code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def deliver_due(rt: Runtime, client: httpx.AsyncClient) -> int:
    """Post one batch of due deliveries; how many were attempted."""
    async with rt.sessions() as session, session.begin():
        rows = (await session.execute(_CLAIM, {"lease": LEASE_S, "n": BATCH})).mappings().all()
    if not rows:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Any) -> None:
        async with gate:
            await _attempt(rt, client, row)

    await asyncio.gather(*(one(r) for r in rows))
    return len(rows)


async def _attempt(rt: Runtime, client: httpx.AsyncClient, row: Any) -> None:
    settings = rt.settings
    if not row["enabled"]:
        # Disabled after it was claimed: keep it for a re-send once the endpoint is back.
        outcome = Outcome(False, None, "endpoint disabled", 0)
    else:
        secret = decrypt_token(row["secret_encrypted"], settings.encryption_key)
        outcome = await post(client, row, secret,
                             allow_private=settings.webhooks_may_reach_private,
                             require_https=settings.is_production)
    entry = orjson.dumps([{"at": datetime.now(UTC).isoformat(), "statusCode": outcome.code,
                           "error": outcome.error, "durationMs": outcome.duration_ms}]).decode()
    expires = row["created_at"] + timedelta(seconds=settings.webhook_retry_for_s)
    disabled: Any = None
    async with rt.sessions() as session, session.begin():
        if outcome.ok:
            await session.execute(_DELIVERED, {"id": row["id"], "code": outcome.code,
                                               "entry": entry})
            await session.execute(_ENDPOINT_OK, {"id": row["endpoint_id"]})
        else:
            expired = datetime.now(UTC) >= expires or not row["enabled"]
            await session.execute(_RETRY, {
                "id": row["id"], "status": "expired" if expired else "pending",
                "code": outcome.code, "error": outcome.error,
                "delay": backoff_s(row["attempts"] + 1, settings.webhook_backoff_base_s),
                "entry": entry,
            })
            if row["enabled"]:
                endpoint = (await session.execute(_ENDPOINT_FAILED, {
                    "id": row["endpoint_id"], "disable_after": settings.webhook_disable_after_s,
                    "reason": f"failing since more than {settings.webhook_disable_after_s // 3600} h"
                              f" (last: {outcome.error or outcome.code})"[:200],
                })).mappings().first()
                if endpoint is not None and endpoint["was_enabled"] and not endpoint["enabled"]:
                    disabled = endpoint
        await session.execute(_TRIM, {"id": row["id"], "keep": ATTEMPT_LOG_KEEP})
    if disabled is not None:
        await _notify_disabled(rt, row, disabled["disabled_reason"] or "failing for too long")


async def _notify_disabled(rt: Runtime, row: Any, reason: str) -> None:
    """Tell the tenant's operators (the console's notices subscription), after the commit."""
    notice = {"type": "TenantNotice", "kind": "webhook_endpoint_disabled",
              "endpointId": str(row["endpoint_id"]), "at": datetime.now(UTC).isoformat(),
              "message": f"The event webhook endpoint {row['url']} was switched off: {reason}. "
                         "Fix the receiver, then switch it on again (updateWebhookEndpoint)."}
    try:
        await rt.redis.publish(tenant_topic(str(row["tenant_id"])), orjson.dumps(notice))
    except Exception:
        log.warning("could not publish the endpoint-disabled notice", exc_info=True)


def http_client() -> httpx.AsyncClient:
    # Its own pool: a slow receiver holds these connections, never the Graph API's.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False,
        limits=httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY),
    )


async def deliver_forever(rt: Runtime) -> None:
    """Runs beside the job slots in every worker; SKIP LOCKED shares the work among them."""
    async with http_client() as client:
        while True:
            try:
                done = await deliver_due(rt, client)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event delivery failed; trying again")
                done = 0
            if done < BATCH:
                await asyncio.sleep(IDLE_POLL_S)
