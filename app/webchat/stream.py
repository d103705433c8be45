"""`GET /widget/{public_id}/stream`: a visitor's live replies and typing indicator, as SSE.

The stream rides on the process's realtime hub (one Redis pub/sub connection for the whole
process, DESIGN decision 7) and passes on only the events of the visitor's own conversations.
Events name a conversation, not a contact, so which conversations belong to a visitor is looked
up once per conversation per process and cached: ownership never changes, and a busy tenant's
events would otherwise cost a query per event per open stream.

SSE over `fetch` rather than a websocket: it is plain HTTP through every proxy, the visitor
token travels in the Authorization header (never in a URL), and the page only needs to listen.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from app.channels.routing import ChannelRoute
from app.models import Contact, Conversation
from app.realtime.hub import Gap, Hub
from app.runtime import Runtime
from app.webchat.api import (
    Call,
    agent_is_working,
    create_session,
    endpoint,
    history,
    preflight,
    send_message,
    visitor_view,
)
from app.webchat.guard import WidgetError
from app.webchat.images import send_image

log = logging.getLogger("app.webchat.api")

HEARTBEAT_S = 15.0
# Open streams are process-local resources (a queue and a task each), so they are capped per
# process: a handful of tabs per visitor is normal, hundreds from one address is not.
MAX_STREAMS_PER_VISITOR = 5
MAX_STREAMS_PER_ADDRESS = 100
OWNER_CACHE_SIZE = 50_000
TYPES = frozenset({"MessageCreated", "MessageStatusChanged"})
DONE = frozenset({"answered", "skipped", "failed"})

_open_streams: Counter[str] = Counter()
_owners: OrderedDict[str, tuple[str, str] | None] = OrderedDict()


def hub_of(app: Starlette) -> Hub:
    """The process's one hub, started with the app (app.extensions.on_startup)."""
    hub = getattr(app.state, "hub", None)
    if not isinstance(hub, Hub):
        raise RuntimeError("the realtime hub is not running: on_startup must start app.state.hub")
    return hub


async def _owner(rt: Runtime, conversation_id: str) -> tuple[str, str] | None:
    """(channel id, contact external id) of a conversation; cached, since it never changes."""
    if conversation_id in _owners:
        _owners.move_to_end(conversation_id)
        return _owners[conversation_id]
    try:
        cid = uuid.UUID(conversation_id)
    except ValueError:
        return None
    async with rt.sessions() as session:
        row = (await session.execute(
            select(Conversation.channel_id, Contact.external_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == cid)
        )).one_or_none()
    owner = (str(row[0]), row[1]) if row is not None else None
    if owner is not None:
        # Unknown ids are not cached: the row may simply not be committed yet.
        _owners[conversation_id] = owner
        if len(_owners) > OWNER_CACHE_SIZE:
            _owners.popitem(last=False)
    return owner


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def typing_after(event: dict[str, Any]) -> bool | None:
    """How an event changes the typing indicator: True on, False off, None unchanged."""
    msg = event.get("message") or {}
    if msg.get("direction") == "inbound":
        if msg.get("status") == "processing":
            return True
        if msg.get("status") in DONE:
            return False
    elif msg.get("direction") == "outbound" and event.get("type") == "MessageCreated":
        return False
    return None


async def visitor_events(
    rt: Runtime, hub: Hub, channel: ChannelRoute, visitor: str
) -> AsyncIterator[bytes]:
    mine = (str(channel.id), visitor)
    with hub.subscribe(str(channel.tenant_id), types=TYPES) as sub:
        # Subscribed first, read second: nothing committed in between can be missed.
        typing = await agent_is_working(rt, channel, visitor)
        yield sse("ready", {"typing": typing})
        while True:
            try:
                item = await asyncio.wait_for(sub.get(), HEARTBEAT_S)
            except TimeoutError:
                # Keeps proxies from closing an idle connection and reveals a dead client.
                yield b": ping\n\n"
                continue
            if isinstance(item, Gap):
                # Events were lost: the page reloads its history, the source of truth.
                yield sse("resync", {"reason": item.reason})
                continue
            msg = item.get("message")
            if not isinstance(msg, dict) or msg.get("direction") not in ("inbound", "outbound"):
                continue
            if await _owner(rt, str(item.get("conversationId"))) != mine:
                continue
            yield sse("message", {"type": item.get("type"), "message": visitor_view(msg)})
            change = typing_after(item)
            if change is not None and change != typing:
                typing = change
                yield sse("typing", {"typing": typing})


def _stream_keys(call: Call) -> tuple[str, str]:
    return f"v:{call.channel.id}:{call.visitor}", f"a:{call.address}"


def _refuse_too_many(call: Call) -> None:
    visitor_key, address_key = _stream_keys(call)
    if _open_streams[visitor_key] >= MAX_STREAMS_PER_VISITOR or \
            _open_streams[address_key] >= MAX_STREAMS_PER_ADDRESS:
        raise WidgetError(429, "too many open chat streams; close other tabs and retry",
                          "RATE_LIMITED", headers={"Retry-After": "30"})


@endpoint("read", need_visitor=True)
async def stream(request: Request, call: Call) -> Response:
    visitor = call.visitor_id
    hub = hub_of(request.app)
    # Checked here so the refusal is a proper 429; counted inside the body, whose `finally`
    # is the one place sure to run however the connection ends. (Starlette cancels the body as
    # soon as the server reports the disconnect; at worst the next heartbeat's write fails.)
    _refuse_too_many(call)

    async def body() -> AsyncIterator[bytes]:
        keys = _stream_keys(call)
        for k in keys:
            _open_streams[k] += 1
        try:
            async for chunk in visitor_events(call.rt, hub, call.channel, visitor):
                yield chunk
        finally:
            for k in keys:
                _open_streams[k] -= 1
                if _open_streams[k] <= 0:
                    del _open_streams[k]

    return StreamingResponse(
        body(), media_type="text/event-stream",
        # no-transform and X-Accel-Buffering: proxies must pass each event on as it comes.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


def routes() -> list[BaseRoute]:
    """The widget's endpoints (app/webchat/api.py, images.py) and its stream."""
    return [
        Route("/widget/{public_id}/session", create_session, methods=["POST"]),
        Route("/widget/{public_id}/messages", send_message, methods=["POST"]),
        Route("/widget/{public_id}/images", send_image, methods=["POST"]),
        Route("/widget/{public_id}/messages", history, methods=["GET"]),
        Route("/widget/{public_id}/stream", stream, methods=["GET"]),
        Route("/widget/{public_id}/{rest:path}", preflight, methods=["OPTIONS"]),
    ]
