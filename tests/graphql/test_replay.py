"""No gaps: resubscribing with `after` replays from Postgres what was missed, then goes live;
a lost pub/sub connection is recovered the same way. Also creditBalance."""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from app.db import transaction
from app.effects import flush, take
from app.models import Message
from tests.graphql.helpers import add_outbound, seed_conversation, ws_session
from tests.graphql.test_subscriptions import EVENTS, event_of
from tests.helpers import db_rows


async def set_status(rt: Any, message_id: Any, status: str, *, publish: bool) -> None:
    from app.conversations import events
    from app.effects import emit

    async with transaction(rt.sessions) as s:
        row = await s.get(Message, message_id)
        assert row is not None
        row.status = status
        await s.flush()
        await s.refresh(row)
        emit(s, str(row.tenant_id), events.message_status_changed(row))
    effects = take(s)
    if publish:
        await flush(effects, rt.redis)


async def test_after_replays_what_was_missed_then_continues_live(live, rt, world):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(1)
        first = await add_outbound(rt, world.tenant_id, conv, status="pending", text="first")
        await set_status(rt, first, "sent", publish=True)
        seen = event_of(await ws.next_for(op))
        assert seen["__typename"] == "MessageStatusChanged" and seen["message"]["status"] == "SENT"
        cursor = seen["cursor"]

    # Offline: a new message and a status change, committed and published to nobody.
    missed = await add_outbound(rt, world.tenant_id, conv, status="pending", text="missed")
    await set_status(rt, first, "delivered", publish=True)

    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv), "after": cursor})
        replayed = []
        while True:
            ev = event_of(await ws.next_for(op))
            replayed.append(ev)
            if ev["__typename"] == "ConversationUpdated":
                break
        by_id = {e["message"]["id"]: e for e in replayed if "message" in e}
        assert by_id[str(missed)]["__typename"] == "MessageCreated"
        assert by_id[str(missed)]["message"]["text"] == "missed"
        assert by_id[str(first)]["message"]["status"] == "DELIVERED"
        assert replayed[-1] == {"__typename": "ConversationUpdated", "conversationId": str(conv),
                                "change": "SYNC", "mode": "AI", "archived": False}
        # Then live, without repeating what the replay delivered.
        await set_status(rt, missed, "sent", publish=True)
        live_event = event_of(await ws.next_for(op))
        assert live_event["message"]["id"] == str(missed) and live_event["message"]["status"] == "SENT"
        assert await ws.nothing_for(0.3) == []


async def test_tenant_wide_after_replays_every_conversation(live, rt, world):
    first = await seed_conversation(rt, world, name="A")
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {})
        await live.wait_subscribers(1)
        await seed_conversation(rt, world, name="B", texts=("seen",), publish=True)
        cursor = event_of(await ws.next_for(op))["cursor"]
    await add_outbound(rt, world.tenant_id, first, text="missed in A")
    second = await seed_conversation(rt, world, name="C", texts=("missed in C",))
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"after": cursor})
        replayed = [event_of(m) for m in await ws.nothing_for(0.5)]
    by_text = {e["message"]["text"]: e for e in replayed}
    assert by_text["missed in A"]["conversationId"] == str(first)
    assert by_text["missed in C"]["conversationId"] == str(second)
    assert all(e["__typename"] == "MessageCreated" for e in replayed)


async def test_a_bad_cursor_is_bad_user_input(live, rt, world):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv), "after": "bm9wZQ"})
        msg = await ws.next_for(op)
        errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


async def test_a_lost_pubsub_connection_is_recovered_from_postgres(live, rt, world, test_env):
    conv = await seed_conversation(rt, world)
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {})
        await live.wait_subscribers(1)
        # Committed but its event never published (as if it went out while we were away)...
        unseen = await add_outbound(rt, world.tenant_id, conv, text="while disconnected")
        # ...and the hub's connection is cut.
        admin = Redis.from_url(test_env["REDIS_URL"])
        try:
            assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
        finally:
            await admin.aclose()
        gap = event_of(await ws.next_for(op))
        assert gap == {"__typename": "EventsMissed", "reason": "RECONNECT", "messagesReplayed": True}
        # The replay starts a little before the last event seen (see REPLAY_OVERLAP), so the
        # customer's message may come again; what matters is that nothing is missing.
        replayed = [event_of(m) for m in await ws.nothing_for(0.5)]
        texts = [e["message"]["text"] for e in replayed]
        assert str(unseen) in {e["message"]["id"] for e in replayed}
        assert set(texts) <= {"hello", "while disconnected"}
        # Live delivery works again.
        await seed_conversation(rt, world, publish=True, texts=("back",))
        back = event_of(await ws.next_for(op))
        assert back["message"]["text"] == "back"


async def test_credit_balance_now_and_on_every_change(live, world):
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe("subscription { creditBalance }")
        assert (await ws.next_for(op))["payload"]["data"] == {"creditBalance": 100}
        async with httpx.AsyncClient(base_url=live.url) as http:
            r = await http.post("/graphql", headers={"Authorization": "Bearer test-admin-key-0000"}, json={
                "query": 'mutation($t: ID!) { grantCredits(tenantId: $t, amount: 7, reason: "x") { id } }',
                "variables": {"t": str(world.tenant_id)}})
            assert not r.json().get("errors"), r.text
        assert (await ws.next_for(op))["payload"]["data"] == {"creditBalance": 107}


async def test_replay_of_equal_timestamps_follows_the_conversations_order(live, rt, world,
                                                                          test_env):
    conv = await seed_conversation(rt, world, texts=())
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(1)
        first = await add_outbound(rt, world.tenant_id, conv, status="pending", text="first")
        await set_status(rt, first, "sent", publish=True)
        cursor = event_of(await ws.next_for(op))["cursor"]

    # Offline: a question and its answer stamped alike (one clock tick), the answer's id the
    # smaller: id order would show the answer before the question.
    await add_outbound(rt, world.tenant_id, conv, text="question", role="customer")
    await add_outbound(rt, world.tenant_id, conv, text="answer")
    db = test_env["DATABASE_URL"]
    await db_rows(db, "UPDATE messages SET id = 'ffffffff-ffff-4fff-bfff-ffffffffffff', "
                      "direction = 'inbound', status = 'answered' WHERE text = 'question'")
    await db_rows(db, "UPDATE messages SET id = '00000000-0000-4000-8000-000000000000' "
                      "WHERE text = 'answer'")
    await db_rows(db, "UPDATE messages SET updated_at = now() WHERE text IN ('question', 'answer')")

    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {"c": str(conv), "after": cursor})
        texts = []
        while True:
            ev = event_of(await ws.next_for(op))
            if ev["__typename"] == "ConversationUpdated":
                break
            texts.append(ev["message"].get("text"))
        assert [t for t in texts if t in ("question", "answer")] == ["question", "answer"]
