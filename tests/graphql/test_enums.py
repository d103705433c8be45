"""Closed sets are enums in the API; a stored value outside the set reads as OTHER (the raw
message type stays readable in rawType) instead of failing the query or the subscription."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import text

from app.conversations.kinds import ConversationChange, MessageKind, StatusReason
from app.db import transaction
from app.graphql.schema import schema
from app.realtime.topics import tenant_topic
from tests.graphql.helpers import gql, ok, seed_conversation, ws_session
from tests.graphql.test_subscriptions import EVENTS, event_of

MESSAGES = """query Messages($id: ID!) { conversation(id: $id) {
  lastMessage { type rawType statusReason }
  messages(first: 10) { edges { node { seq type rawType status statusReason retryable } } } } }"""
PAGE = """query Page { conversations(first: 5) { edges { node {
  lastMessage { type rawType statusReason } } } } }"""
LEDGER = "query Ledger { creditLedger(first: 10) { edges { node { kind delta reason } } } }"


async def _set(rt: Any, sql: str, **values: Any) -> None:
    async with transaction(rt.sessions) as s:
        await s.execute(text(sql), values)


async def test_message_types_and_reasons_are_enums_and_unknown_ones_read_as_other(
    client, rt, world
):
    conv = await seed_conversation(rt, world, texts=("a photo", "a new kind", "odd reason"))
    await _set(rt, "UPDATE messages SET type = 'image', status = 'skipped', "
                   "status_reason = 'human_mode' WHERE conversation_id = :c AND seq = 1", c=conv)
    await _set(rt, "UPDATE messages SET type = 'ephemeral' WHERE conversation_id = :c AND seq = 2",
               c=conv)
    await _set(rt, "UPDATE messages SET status = 'failed', status_reason = 'quota_exceeded' "
                   "WHERE conversation_id = :c AND seq = 3", c=conv)

    data = ok(await gql(client, MESSAGES, {"id": str(conv)}, key=world.api_key))["conversation"]
    nodes = [e["node"] for e in data["messages"]["edges"]]
    assert [(n["type"], n["rawType"], n["statusReason"]) for n in nodes] == [
        ("IMAGE", "image", "HUMAN_MODE"),
        ("OTHER", "ephemeral", None),
        ("TEXT", "text", "OTHER"),
    ]
    # An unknown reason is not one retryMessage knows how to retry.
    assert nodes[2]["status"] == "FAILED" and nodes[2]["retryable"] is False
    assert data["lastMessage"] == {"type": "TEXT", "rawType": "text", "statusReason": "OTHER"}
    # The page's hand-written statements read the same way.
    page = ok(await gql(client, PAGE, key=world.api_key))["conversations"]["edges"]
    assert page[0]["node"]["lastMessage"]["statusReason"] == "OTHER"


async def test_the_ledger_kind_is_an_enum_and_an_unknown_kind_reads_as_other(client, rt, world):
    await _set(rt, "INSERT INTO credit_ledger (id, tenant_id, delta, kind, reason, "
                   "idempotency_key, balance_after) VALUES (:id, :t, 0, 'adjustment', 'audit', "
                   ":k, 100)", id=uuid.uuid4(), t=world.tenant_id, k=f"adj:{uuid.uuid4()}")
    nodes = [e["node"] for e in ok(await gql(client, LEDGER, key=world.api_key))
             ["creditLedger"]["edges"]]
    assert {(n["kind"], n["reason"]) for n in nodes} == {
        ("GRANT", "initial credits"), ("OTHER", "audit"),
    }


async def test_an_unknown_change_reaches_the_subscription_as_other(live, rt, world, test_env):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(1)
        redis = Redis.from_url(test_env["REDIS_URL"])
        try:
            for change in ("escalated", "mode"):
                await redis.publish(tenant_topic(str(world.tenant_id)), orjson.dumps({
                    "type": "ConversationUpdated", "conversationId": str(conv),
                    "change": change, "mode": "human", "archived": False,
                }))
        finally:
            await redis.aclose()
        got = [event_of(await ws.next_for(op)) for _ in range(2)]
    assert [(e["change"], e["mode"]) for e in got] == [("OTHER", "HUMAN"), ("MODE", "HUMAN")]


def test_the_schema_names_every_member_and_datetime_says_what_it_is() -> None:
    sdl = schema.as_str()
    for enum_type in (MessageKind, StatusReason, ConversationChange):
        body = sdl.split(f"enum {enum_type.__name__} {{")[1].split("}")[0].split()
        assert body == [m.name for m in enum_type]
    assert 'scalar DateTime @specifiedBy(url: "https://scalars.graphql.org/andimarek/date-time")' in sdl
    assert "  change: ConversationChange!" in sdl and "  reason: MissedReason!" in sdl
    assert "  kind: CreditKind!" in sdl and "  statusReason: StatusReason\n" in sdl
