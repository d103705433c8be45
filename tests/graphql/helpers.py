"""Helpers for the GraphQL tests: calling the API, seeding conversations, a websocket client."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from app.conversations import service as conversations
from app.db import transaction
from app.effects import flush, take
from app.models import Channel, Conversation, Message
from tests.factories import World
from tests.live import LiveServer

PROTOCOL = "graphql-transport-ws"


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
    *, key: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers)
    assert r.headers["content-type"].startswith("application/json"), r.text
    body: dict[str, Any] = r.json()
    body["_status"] = r.status_code
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


async def seed_conversation(
    rt: Any, world: World, *, name: str = "Ana", external_id: str | None = None,
    texts: tuple[str, ...] = ("hello",), inbound_at: datetime | None = None,
    publish: bool = False,
) -> uuid.UUID:
    """A customer conversation with inbound messages, as the pipeline would store them."""
    async with transaction(rt.sessions) as s:
        channel = await s.get(Channel, world.channel_id)
        assert channel is not None
        contact = await conversations.upsert_contact(
            s, channel, external_id or str(uuid.uuid4().int)[:12], profile_name=name,
        )
        conv_id = await conversations.open_conversation(s, channel, world.agent_id, contact)
        conv = await s.get(Conversation, conv_id)
        assert conv is not None
        for text in texts:
            await conversations.add_message(
                s, conv, direction="inbound", sender_role="customer", type="text", text=text,
                status="received", provider_message_id=f"wamid.{uuid.uuid4().hex}",
                provider_timestamp=inbound_at or datetime.now(UTC),
            )
    effects = take(s)
    if publish:
        await flush(effects, rt.redis)
    return conv_id


async def add_outbound(
    rt: Any, tenant_id: uuid.UUID, conversation_id: uuid.UUID, *, status: str = "sent",
    text: str = "reply", role: str = "ai",
) -> uuid.UUID:
    async with transaction(rt.sessions) as s:
        conv = await conversations.get_conversation(s, tenant_id, conversation_id)
        assert conv is not None
        msg = await conversations.add_message(
            s, conv, direction="outbound", sender_role=role, type="text", text=text,
            status=status,
        )
    take(s)
    return msg.id


async def set_inbound_at(rt: Any, conversation_id: uuid.UUID, at: datetime | None) -> None:
    async with transaction(rt.sessions) as s:
        conv = await s.get(Conversation, conversation_id)
        assert conv is not None
        conv.last_inbound_at = at


async def fail_message(rt: Any, message_id: uuid.UUID) -> None:
    async with transaction(rt.sessions) as s:
        msg = await s.get(Message, message_id)
        assert msg is not None
        msg.status, msg.status_reason = "failed", "provider_error"
        msg.error_code, msg.error_title = "131000", "Something went wrong"


def hours_ago(h: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=h)


class WS:
    """A graphql-transport-ws client, just enough protocol for the tests."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._ids = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        data: dict[str, Any] = json.loads(raw)
        return data

    async def init(self, key: str | None) -> dict[str, Any]:
        await self.send({"type": "connection_init",
                         "payload": {"authorization": f"Bearer {key}"} if key else {}})
        return await self.recv()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None,
                        op_id: str | None = None) -> str:
        self._ids += 1
        op = op_id or str(self._ids)
        await self.send({"id": op, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})
        return op

    async def next_for(self, op: str, timeout: float = 10) -> dict[str, Any]:
        """The next message for operation `op` (messages of other operations are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg.get("id") == op:
                return msg

    async def nothing_for(self, seconds: float) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        try:
            while True:
                got.append(await self.recv(seconds))
        except TimeoutError:
            return got


@asynccontextmanager
async def ws_session(live: LiveServer, key: str | None) -> AsyncIterator[WS]:
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as conn:  # type: ignore[list-item]
        ws = WS(conn)
        ack = await ws.init(key)
        assert ack["type"] == "connection_ack", ack
        yield ws
