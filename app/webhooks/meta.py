"""`/webhooks/meta`: verify, parse, persist, dedup, wake; answer fast, work later."""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.channels.adapters import instagram, whatsapp
from app.channels.adapters.base import InboundMessage, ParsedWebhook
from app.channels.routing import ChannelRoute, route
from app.crypto import verify_signature
from app.db import driver_connection, transaction
from app.effects import Effects, flush_committed, take
from app.http import error_response, read_limited
from app.logs import log_fields
from app.metrics import INBOUND_MESSAGES, PENDING_MESSAGES, WEBHOOK_REQUESTS, WEBHOOK_UNKNOWN_CHANNEL
from app.models import Message
from app.models.states import MessageStatus
from app.outages import RideQueue, StillAway, is_db_outage, retry_outage
from app.pipeline.ingest import announce, apply_status, ingest
from app.runtime import Runtime

log = logging.getLogger("app.webhooks.meta")

MAX_BODY_BYTES = 3 * 1024 * 1024
# A JSON-escaped U+0000 (`\u0000`) not itself escaped (`\\u0000` is a backslash and "u0000").
# PostgreSQL text and jsonb cannot hold U+0000, and no one types it, so it is dropped before
# parsing; otherwise one such message would be a 500 that Meta redelivers for days.
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
ECHO_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
PARSERS = {"whatsapp_business_account": ("whatsapp", whatsapp.parse_webhook),
           "instagram": ("instagram", instagram.parse_webhook)}


async def verify(request: Request) -> Response:
    """The subscription handshake: echo hub.challenge verbatim when the token matches."""
    rt: Runtime = request.app.state.runtime
    q = request.query_params
    token = (rt.settings.meta_verify_token or "").encode()
    # Constant time, so the answer's timing tells a caller nothing about how much of a guess
    # was right; compared as bytes, since compare_digest refuses non-ASCII str.
    given = q.get("hub.verify_token", "").encode()
    if q.get("hub.mode") == "subscribe" and token and hmac.compare_digest(given, token):
        # The challenge is the caller's own text echoed back: plain text that no browser may
        # sniff into HTML or script, and never cached.
        return PlainTextResponse(q.get("hub.challenge", ""), headers=ECHO_HEADERS)
    WEBHOOK_REQUESTS.labels("meta", "verify_refused").inc()
    return error_response(403, "verification failed", "FORBIDDEN")


class PendingGauge:
    """Pending work, counted at most once a second per process: the backpressure signal."""

    def __init__(self) -> None:
        self.value = 0
        self.at = 0.0

    async def get(self, rt: Runtime) -> int:
        now = time.monotonic()
        if now - self.at > 1.0:
            self.at = now
            try:
                async with rt.sessions() as session:
                    self.value = int(await session.scalar(
                        select(func.count()).select_from(Message)
                        .where(Message.status.in_((MessageStatus.RECEIVED, MessageStatus.PROCESSING)))
                    ) or 0)
            except Exception as exc:
                # Postgres is away: the last count stands, and the store below rides it out.
                if not is_db_outage(exc):
                    raise
                return self.value
            PENDING_MESSAGES.set(self.value)
        return self.value


_pending = PendingGauge()
# Also read by GET /metrics, so a scrape rides on the same once-a-second count.
pending_count = _pending.get


def _secrets(rt: Runtime) -> list[str]:
    s = rt.settings
    return [x for x in (s.meta_app_secret, s.instagram_app_secret) if x]


async def receive(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    raw = await read_limited(request, MAX_BODY_BYTES)
    if raw is None:
        WEBHOOK_REQUESTS.labels("meta", "too_large").inc()
        return error_response(413, "body larger than 3 MB")
    header = request.headers.get("x-hub-signature-256")
    if not any(verify_signature(raw, header, secret) for secret in _secrets(rt)):
        WEBHOOK_REQUESTS.labels("meta", "bad_signature").inc()
        return error_response(401, "missing or invalid X-Hub-Signature-256", "UNAUTHENTICATED")
    try:
        body = orjson.loads(_JSON_NUL.sub(rb"\1", raw) if b"\\u0000" in raw else raw)
    except orjson.JSONDecodeError:
        WEBHOOK_REQUESTS.labels("meta", "bad_json").inc()
        return error_response(400, "body is not JSON")
    if not isinstance(body, dict):
        WEBHOOK_REQUESTS.labels("meta", "bad_json").inc()
        return error_response(400, "body must be a JSON object")
    parser = PARSERS.get(str(body.get("object")))
    if parser is None:
        WEBHOOK_REQUESTS.labels("meta", "ignored").inc()
        log.info("ignored webhook object", extra=log_fields(object=str(body.get("object"))[:64]))
        return JSONResponse({"status": "ignored"})
    kind, parse = parser
    parsed = parse(body)
    if parsed.messages and await _pending.get(rt) >= rt.settings.queue_max_pending:
        WEBHOOK_REQUESTS.labels("meta", "backpressure").inc()
        return error_response(503, "too much pending work; retry later", "UNAVAILABLE",
                              headers={"Retry-After": "30"})
    try:
        result = await store(rt, kind, parsed)
    except StillAway as exc:
        # Only after WEBHOOK_STORE_RETRY_S of trying: Meta delivers it again later.
        WEBHOOK_REQUESTS.labels("meta", "unavailable").inc()
        log.warning("webhook not stored: %s unreachable for %.1fs", exc.dependency,
                    rt.settings.webhook_store_retry_s)
        return error_response(503, f"{exc.dependency} unreachable; retry later", "UNAVAILABLE",
                              headers={"Retry-After": str(RETRY_AFTER_OUTAGE_S)})
    WEBHOOK_REQUESTS.labels("meta", "ok").inc()
    return JSONResponse(result)


# Whether Meta honours Retry-After is not documented (it redelivers on its own schedule);
# other senders may. An outage that outlasted the retries is not over in a second.
RETRY_AFTER_OUTAGE_S = 5


async def _ingest_one(rt: Runtime, channel: ChannelRoute, msg: InboundMessage) -> Message | None:
    async with driver_connection(rt.engine) as conn:
        return await ingest(conn.fetchrow, channel, msg)


@dataclass
class _Storing:
    """One webhook's store, resumable: an attempt after a lost connection carries on where
    the last one stopped, so nothing stored before is counted or announced twice."""

    rt: Runtime
    kind: str
    parsed: ParsedWebhook
    routes: dict[str, ChannelRoute | None] = field(default_factory=dict)
    done: int = 0  # messages handled
    statuses_done: bool = False
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    effects: Effects = field(default_factory=Effects)

    async def attempt(self) -> None:
        parsed, rt = self.parsed, self.rt
        accounts = {m.account_id for m in parsed.messages} | {s.account_id for s in parsed.statuses}
        for a in sorted(accounts - self.routes.keys()):
            self.routes[a] = await route(rt, self.kind, a)
        # Each message commits on its own, in the webhook's order: an error part-way answers
        # an error, Meta redelivers, and what was stored is recognised by its provider id.
        while self.done < len(parsed.messages):
            msg = parsed.messages[self.done]
            channel = self.routes[msg.account_id]
            if channel is None:
                self.counts["unknown_channel"] += 1
            else:
                row = await _ingest_one(rt, channel, msg)
                self.counts["stored" if row is not None else "duplicates"] += 1
                if row is not None:
                    announce(self.effects, channel, msg, row)
            self.done += 1
        if parsed.statuses and not self.statuses_done:
            async with transaction(rt.sessions) as session:
                for st in parsed.statuses:
                    channel = self.routes[st.account_id]
                    if channel is None:
                        self.counts["unknown_channel"] += 1
                        continue
                    ok = await apply_status(session, channel, st)
                    self.counts["statuses" if ok else "stale_statuses"] += 1
            self.effects.merge(take(session))
            self.statuses_done = True


def _riders(rt: Runtime) -> RideQueue:
    queue = rt.extras.get("webhook_riders")
    if queue is None:
        queue = rt.extras["webhook_riders"] = RideQueue()
    return cast(RideQueue, queue)


async def store(rt: Runtime, kind: str, parsed: ParsedWebhook) -> dict[str, Any]:
    """Store what the webhook carries. A dropped or refused database connection is retried
    (fresh connection, backoff with jitter) for up to WEBHOOK_STORE_RETRY_S, inside the
    request: a Postgres restart or failover then delays the answer instead of failing it, so
    Meta has no reason to deliver this message again after the customer's next one. Then
    StillAway."""
    deadline = time.monotonic() + rt.settings.webhook_store_retry_s
    storing = _Storing(rt, kind, parsed)
    storing.counts["ignored"] = parsed.ignored
    customers = [f"{kind}:{m.account_id}:{m.external_id}" for m in parsed.messages]
    # One customer's webhooks are stored one at a time, in arrival order: an earlier message
    # still retrying (the database, or a Redis that does not answer) is never overtaken by a
    # later one. Uncontended, this costs nothing; customers do not wait for each other.
    async with _riders(rt).ride(customers):
        await retry_outage(storing.attempt, deadline)
    counts, routes = storing.counts, storing.routes
    # Committed: with Redis away the wake-ups fall to the sweeper, and the answer is still 200.
    await flush_committed(storing.effects, rt.redis)
    if counts["unknown_channel"]:
        WEBHOOK_UNKNOWN_CHANNEL.labels(kind).inc(counts["unknown_channel"])
        log.warning("webhook for a channel that is not connected",
                    extra=log_fields(kind=kind, accounts=[a for a, r in routes.items() if r is None]))
    if counts["stored"]:
        INBOUND_MESSAGES.labels(kind).inc(counts["stored"])
    return {"status": "ok", **counts}
