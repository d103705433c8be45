"""conversationEvents and creditBalance over graphql-transport-ws, against the real app served
by uvicorn; events are published to Redis by other clients, as workers and other API
processes do."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.conversations import events
from app.models import Message
from app.realtime.topics import tenant_topic
from tests.graphql.helpers import PROTOCOL, WS, add_outbound, seed_conversation, ws_session

EVENTS = """subscription($c: ID, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    __typename
    ... on MessageCreated { cursor conversationId message { id seq text status direction senderRole } }
    ... on MessageStatusChanged { cursor conversationId message { id seq status errorCode } }
    ... on ConversationUpdated { conversationId change mode archived }
    ... on EventsMissed { reason messagesReplayed }
  }
}"""


def event_of(msg: dict[str, Any]) -> dict[str, Any]:
    assert msg["type"] == "next", msg
    assert not msg["payload"].get("errors"), msg
    data: dict[str, Any] = msg["payload"]["data"]["conversationEvents"]
    return data


async def publish_message_event(redis_url: str, rt: Any, message_id: uuid.UUID,
                                kind: str = "created") -> None:
    """What a worker does after its commit, from a Redis client of its own."""
    async with rt.sessions() as s:
        row = await s.get(Message, message_id)
    assert row is not None
    payload = events.message_created(row) if kind == "created" else events.message_status_changed(row)
    redis = Redis.from_url(redis_url)
    try:
        await redis.publish(tenant_topic(str(row.tenant_id)), orjson.dumps(payload))
    finally:
        await redis.aclose()


async def test_events_published_by_another_process_reach_the_subscription(live, rt, world, test_env):
    conv = await seed_conversation(rt, world)
    elsewhere = await seed_conversation(rt, world, name="Other customer")
    async with ws_session(live, world.api_key) as ws:
        one = await ws.subscribe(EVENTS, {"c": str(conv)})
        every = await ws.subscribe(EVENTS, {})
        await live.wait_subscribers(2)
        reply = await add_outbound(rt, world.tenant_id, conv, text="from a worker")
        await publish_message_event(test_env["REDIS_URL"], rt, reply)
        other_reply = await add_outbound(rt, world.tenant_id, elsewhere, text="elsewhere")
        await publish_message_event(test_env["REDIS_URL"], rt, other_reply)

        got: dict[str, list[dict[str, Any]]] = {one: [], every: []}
        for _ in range(3):
            msg = await ws.recv()
            got[msg["id"]].append(event_of(msg))
        assert [e["message"]["text"] for e in got[one]] == ["from a worker"]
        assert [e["message"]["text"] for e in got[every]] == ["from a worker", "elsewhere"]
        created = got[one][0]
        assert created["__typename"] == "MessageCreated" and created["conversationId"] == str(conv)
        assert created["message"]["direction"] == "OUTBOUND" and created["message"]["senderRole"] == "AI"
        assert created["cursor"]
        assert await ws.nothing_for(0.3) == []


async def test_a_mutation_on_http_is_seen_live(live, rt, world):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(1)
        async with httpx.AsyncClient(base_url=live.url) as http:
            r = await http.post("/graphql", headers={"Authorization": f"Bearer {world.api_key}"}, json={
                "query": 'mutation($c: ID!) { sendOperatorMessage(conversationId: $c, text: "hola") { id } }',
                "variables": {"c": str(conv)}})
            assert not r.json().get("errors"), r.text
        seen = [event_of(await ws.next_for(op)) for _ in range(2)]
        kinds = {e["__typename"]: e for e in seen}
        assert kinds["ConversationUpdated"]["mode"] == "HUMAN"
        assert kinds["MessageCreated"]["message"]["text"] == "hola"
        assert kinds["MessageCreated"]["message"]["status"] == "PENDING"


async def test_other_tenant_cannot_subscribe_to_or_receive_the_first_tenants_events(
    live, rt, world, other
):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, other.api_key) as ws:
        refused = await ws.subscribe(EVENTS, {"c": str(conv)})
        msg = await ws.next_for(refused)
        assert msg["type"] in ("next", "error")
        errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
        await ws.subscribe(EVENTS, {})
        await live.wait_subscribers(1)
        await seed_conversation(rt, world, publish=True)
        await add_outbound(rt, world.tenant_id, conv)
        leftovers = await ws.nothing_for(0.5)
        assert [m for m in leftovers if m["type"] == "next"] == []


async def test_bad_key_on_connection_init_is_refused_and_the_server_carries_on(live, world):
    for key in ("mca_wrong", None):
        async with connect(live.ws_url, subprotocols=[PROTOCOL]) as conn:  # type: ignore[list-item]
            ws = WS(conn)
            await ws.send({"type": "connection_init",
                           "payload": {"authorization": f"Bearer {key}"} if key else {}})
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
            assert "API key" in closed.value.rcvd.reason
    # Subscribing without connection_init is refused too.
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as conn:  # type: ignore[list-item]
        ws = WS(conn)
        await ws.subscribe(EVENTS, {})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe("subscription { creditBalance }")
        assert (await ws.next_for(op))["payload"]["data"] == {"creditBalance": 100}


async def test_the_101st_subscription_on_one_connection_is_refused(live, rt, world):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        for _ in range(100):
            await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(100)
        extra = await ws.subscribe(EVENTS, {"c": str(conv)})
        refused = await ws.next_for(extra)
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert "at most 100" in refused["payload"][0]["message"]
        # The hundred still work, and so does the server.
        reply = await add_outbound(rt, world.tenant_id, conv, text="to all")
        async with rt.sessions() as s:
            row = await s.get(Message, reply)
        await rt.redis.publish(tenant_topic(str(world.tenant_id)),
                               orjson.dumps(events.message_created(row)))
        received = [await ws.recv() for _ in range(100)]
        assert {event_of(m)["message"]["text"] for m in received} == {"to all"}
        assert len({m["id"] for m in received}) == 100
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe("subscription { creditBalance }")
        assert (await ws.next_for(op))["payload"]["data"] == {"creditBalance": 100}


async def test_only_graphql_transport_ws_is_spoken(live):
    # Refused at the handshake, with a reason a client can show (not a 101 and then 1006).
    for offered in (["graphql-ws"], None):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(live.ws_url, subprotocols=offered):  # type: ignore[arg-type]
                pass
        response = refused.value.response
        assert response.status_code == 400
        assert json.loads(response.body)["code"] == "SUBPROTOCOL_NOT_ACCEPTABLE"
