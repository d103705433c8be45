"""`/widget/{public_id}/...`: the web chat widget's public endpoints. No API key is involved: a
visitor holds a server-signed token that grants their own conversation on one channel, and
nothing else.

A visitor's message takes the same path as a Meta webhook message: `ingest_message` persists
it (deduplicated on a client-chosen id, so a retried POST is stored once), the worker is woken
after commit, and the reply comes back over the live stream (see widget_stream.py).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, tuple_
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.channels.adapters.base import InboundMessage
from app.channels.routing import ChannelRoute, route
from app.conversations.events import message_dict
from app.db import transaction
from app.effects import flush, take
from app.http import read_limited
from app.logs import log_fields
from app.media import repository as media_repo
from app.metrics import INBOUND_MESSAGES, WEBHOOK_REQUESTS
from app.models import Contact, Conversation, Message
from app.models.message import WITHOUT_RAW
from app.pipeline.ingest import ingest_message
from app.runtime import Runtime
from app.webchat.guard import (
    PUBLIC_ID,
    RENEWED_TOKEN_HEADER,
    Grant,
    WidgetError,
    bearer,
    budgets,
    check_token,
    client_address,
    cors_headers,
    issue_token,
    new_visitor_id,
    origin_allowed,
    preflight_headers,
    spend,
)
from app.webhooks import admission

log = logging.getLogger("app.webchat.api")

# Generous next to the character cap: JSON may spell every character as a 12-byte escape pair.
MAX_BODY_BYTES = 64 * 1024
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
HISTORY_DEFAULT, HISTORY_MAX = 50, 200
# What a visitor may see of a message: no provider ids, raw payloads, costs or error details.
VISITOR_FIELDS = ("id", "conversationId", "seq", "direction", "senderRole", "type", "text",
                  "status", "createdAt")


@dataclass
class Call:
    """One authorised widget request: the channel, and the visitor when a token was required."""

    rt: Runtime
    channel: ChannelRoute
    origin: str | None
    address: str
    visitor: str | None

    @property
    def visitor_id(self) -> str:
        """The visitor, on an endpoint declared with need_visitor=True (which checked it)."""
        if self.visitor is None:
            raise WidgetError(401, "missing visitor token (Authorization: Bearer ...)",
                              "UNAUTHENTICATED")
        return self.visitor


Handler = Callable[[Request, Call], Awaitable[Response]]
_refusals_logged: dict[tuple[uuid.UUID, str], float] = {}


def visitor_view(message: dict[str, Any]) -> dict[str, Any]:
    view = {k: message.get(k) for k in VISITOR_FIELDS}
    provider_id = message.get("providerMessageId")
    if message.get("direction") == "inbound" and isinstance(provider_id, str):
        # Lets the page match the stream's copy of a message to the bubble it already shows.
        view["clientMessageId"] = provider_id.partition(":")[2]
    return view


async def _channel(request: Request) -> tuple[Runtime, ChannelRoute]:
    rt: Runtime = request.app.state.runtime
    public_id = request.path_params["public_id"]
    found = await route(rt, "webchat", public_id) if PUBLIC_ID.match(public_id) else None
    if found is None:
        raise WidgetError(404, "no web chat channel with this id", "NOT_FOUND")
    return rt, found


def _refuse_origin(origin: str | None, channel: ChannelRoute) -> None:
    if not origin_allowed(origin, channel.settings):
        # Logged because the usual cause is a missing entry in the channel's settings, and the
        # site owner only sees an opaque CORS failure in their browser. Once a minute per
        # (channel, origin): these requests come before any rate limit.
        key = (channel.id, (origin or "")[:200])
        now = time.monotonic()
        if now - _refusals_logged.get(key, -60.0) >= 60:
            if len(_refusals_logged) > 10_000:
                _refusals_logged.clear()
            _refusals_logged[key] = now
            log.warning("widget request from an origin the channel does not allow",
                        extra=log_fields(channel_id=str(channel.id), origin=key[1]))
        raise WidgetError(403, "this site is not allowed to use this chat", "ORIGIN_NOT_ALLOWED")


def endpoint(scope: str, *, need_visitor: bool) -> Callable[[Handler], Callable[[Request],
                                                                                 Awaitable[Response]]]:
    """Channel lookup, origin check, token check and rate limit, in that order, before `fn`.

    CORS headers go on every answer once the origin is known to be allowed (errors included),
    so the page can read a 429's Retry-After or a 401 and react to it. A successful answer to a
    request whose token is due for renewal carries a fresh one (the token's lifetime slides).
    """

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            origin = request.headers.get("origin")
            cors: dict[str, str] = {}
            try:
                rt, channel = await _channel(request)
                _refuse_origin(origin, channel)
                cors = cors_headers(origin)
                grant = _grant(rt, channel, bearer(request), need_visitor)
                visitor = grant.visitor if grant is not None else None
                address = client_address(request)
                await spend(rt.redis, budgets(rt.settings)[scope], channel.id, address, visitor)
                response = await fn(request, Call(rt, channel, origin, address, visitor))
                if grant is not None and response.status_code < 400 \
                        and grant.due_for_renewal(rt.settings):
                    response.headers[RENEWED_TOKEN_HEADER] = issue_token(
                        rt.settings, channel.id, grant.visitor)
            except WidgetError as exc:
                response = exc.response()
            response.headers.update(cors)
            return response

        return handler

    return wrap


def _grant(rt: Runtime, channel: ChannelRoute, token: str | None, need_visitor: bool) -> Grant | None:
    """The token's grant; a bad or expired token only matters where a visitor is required (the
    session endpoint then makes a new visitor)."""
    if token is None:
        if need_visitor:
            raise WidgetError(401, "missing visitor token (Authorization: Bearer ...)",
                              "UNAUTHENTICATED")
        return None
    try:
        return check_token(rt.settings, token, channel.id)
    except WidgetError:
        if need_visitor:
            raise
        return None


async def preflight(request: Request) -> Response:
    origin = request.headers.get("origin")
    try:
        _, channel = await _channel(request)
        if origin is None:
            raise WidgetError(400, "a preflight request needs an Origin header")
        _refuse_origin(origin, channel)
    except WidgetError as exc:
        return exc.response()
    return Response(status_code=204, headers=preflight_headers(origin))


def refuse_disabled(channel: ChannelRoute) -> None:
    if channel.status == "disabled":
        raise WidgetError(403, "this chat is not accepting messages right now", "CHANNEL_DISABLED")


@endpoint("session", need_visitor=False)
async def create_session(request: Request, call: Call) -> Response:
    """A visitor token. A page that still holds a valid one gets the same visitor back, with a
    fresh token; an expired one gets a new visitor."""
    refuse_disabled(call.channel)
    visitor = call.visitor or new_visitor_id()
    token = issue_token(call.rt.settings, call.channel.id, visitor)
    return JSONResponse(
        {"token": token, "visitorId": visitor,
         "limits": {"maxMessageChars": call.rt.settings.widget_max_message_chars,
                    "maxImageBytes": call.rt.settings.widget_image_max_bytes}},
        status_code=200 if call.visitor else 201,
    )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await read_limited(request, MAX_BODY_BYTES)
    if raw is None:
        raise WidgetError(413, f"body larger than {MAX_BODY_BYTES // 1024} KB")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WidgetError(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise WidgetError(400, "body must be a JSON object")
    return body


def _text(body: dict[str, Any], max_chars: int) -> str:
    text = body.get("text")
    if not isinstance(text, str):
        raise WidgetError(422, "`text` must be a string", "VALIDATION")
    # Postgres text cannot hold NUL; nothing a person types contains one.
    text = text.replace("\x00", "").strip()
    if not text:
        raise WidgetError(422, "`text` must not be empty", "VALIDATION")
    if len(text) > max_chars:
        raise WidgetError(422, f"message is {len(text)} characters long; the limit is {max_chars}",
                          "MESSAGE_TOO_LONG")
    return text


def _client_id(body: dict[str, Any]) -> str:
    return check_client_id(body.get("clientMessageId"))


def check_client_id(cid: Any) -> str:
    if cid is None:
        # No idempotency without the client's id; still accepted (e.g. a curl test).
        return uuid.uuid4().hex
    if not isinstance(cid, str) or not CLIENT_MESSAGE_ID.match(cid):
        raise WidgetError(422, "`clientMessageId` must be 8-80 characters of A-Z a-z 0-9 _ . : -",
                          "VALIDATION")
    return cid


@endpoint("send", need_visitor=True)
async def send_message(request: Request, call: Call) -> Response:
    refuse_disabled(call.channel)
    body = await _json_body(request)
    text = _text(body, call.rt.settings.widget_max_message_chars)
    visitor = call.visitor_id
    # Scoped by visitor: two visitors who happen to pick the same client id stay distinct.
    provider_id = f"{visitor}:{_client_id(body)}"
    msg = InboundMessage(
        account_id=call.channel.provider_account_id, provider_message_id=provider_id,
        external_id=visitor, type="text", text=text, answerable=True,
        raw={"origin": call.origin, "clientMessageId": provider_id.partition(":")[2]},
    )
    try:
        async with admission.of(request).admit(), transaction(call.rt.sessions) as session:
            stored = await ingest_message(session, call.channel, msg)
            row = stored or await session.scalar(
                select(Message).options(WITHOUT_RAW).where(Message.channel_id == call.channel.id,
                                      Message.provider_message_id == provider_id)
            )
    except admission.AtCapacity:
        # Nothing stored: the widget sends the same client id again, stored once.
        WEBHOOK_REQUESTS.labels("widget", "at_capacity").inc()
        raise WidgetError(503, "the service is at capacity; retry later", "UNAVAILABLE",
                          headers={"Retry-After": str(admission.RETRY_AFTER_S)}) from None
    await flush(take(session), call.rt.redis)
    if row is None:  # pragma: no cover - the unique row exists once ingest found a duplicate
        raise WidgetError(409, "message could not be stored; retry", "CONFLICT")
    if stored is not None:
        INBOUND_MESSAGES.labels("webchat").inc()
    return JSONResponse({"message": visitor_view(message_dict(row)), "duplicate": stored is None},
                        status_code=201 if stored is not None else 200)


def _visitor_messages(channel: ChannelRoute, visitor: str) -> Any:
    """Every message a visitor has exchanged on a channel, across archived conversations too:
    the visitor's history does not vanish when the business swaps agents."""
    return (
        select(Message).options(WITHOUT_RAW)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Message.tenant_id == channel.tenant_id, Message.channel_id == channel.id,
               Contact.channel_id == channel.id, Contact.external_id == visitor,
               Message.direction.in_(("inbound", "outbound")))
    )


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return HISTORY_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
        raise WidgetError(422, f"`limit` must be a number from 1 to {HISTORY_MAX}", "VALIDATION")
    return int(raw)


def _before(request: Request) -> uuid.UUID | None:
    raw = request.query_params.get("before")
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise WidgetError(422, "`before` must be a message id", "VALIDATION") from None


async def agent_is_working(rt: Runtime, channel: ChannelRoute, visitor: str) -> bool:
    """True while one of the visitor's messages is with the model (drives the typing dots)."""
    async with rt.sessions() as session:
        found = await session.scalar(
            _visitor_messages(channel, visitor)
            .where(Message.direction == "inbound", Message.status == "processing")
            .with_only_columns(Message.id).limit(1)
        )
    return found is not None


@endpoint("read", need_visitor=True)
async def history(request: Request, call: Call) -> Response:
    """The visitor's own messages, oldest first; `before` pages further back."""
    visitor = call.visitor_id
    limit, before = _limit(request), _before(request)
    q = _visitor_messages(call.channel, visitor)
    async with call.rt.sessions() as session:
        if before is not None:
            anchor = (await session.execute(
                q.where(Message.id == before).with_only_columns(Message.created_at, Message.seq)
            )).one_or_none()
            if anchor is None:
                raise WidgetError(404, "no such message in this conversation", "NOT_FOUND")
            q = q.where(tuple_(Message.created_at, Message.seq) < tuple_(*anchor))
        rows = list((await session.scalars(
            q.order_by(Message.created_at.desc(), Message.seq.desc()).limit(limit + 1)
        )).all())
        more = len(rows) > limit
        rows = rows[:limit][::-1]
        # Files only for messages that can carry them: a text-only history costs no query.
        files = await media_repo.attachments_of(
            session, call.channel.tenant_id,
            [m.id for m in rows if m.type in ("image", "document")])
    views = []
    for m in rows:
        view = visitor_view(message_dict(m))
        if m.id in files:
            view["attachments"] = [media_repo.visitor_view(a, call.rt.settings)
                                   for a in files[m.id]]
        views.append(view)
    return JSONResponse({
        "messages": views,
        "hasMore": more,
        "typing": await agent_is_working(call.rt, call.channel, visitor),
    })
