from __future__ import annotations

import asyncio
import uuid

import pytest

from app import metrics
from app.db import transaction
from app.pipeline.lock import LeaseLost, OrderingLock
from tests.factories import make_world
from tests.helpers import db_rows, running_worker, wait_for
from tests.meta import deliver, signed, wa_message, wa_webhook


async def test_ten_credits_fifty_conversations_exactly_ten_replies(client, runtime, worker, graph, test_env):
    world = await make_world(runtime, credits=10)

    async def post(n: int) -> None:
        raw, headers = signed(wa_webhook(world.account_id, [wa_message(f"q{n}", sender=f"5215{n:09d}")]))
        # 50 at once: the API's admission may ask some to come again, as Meta would.
        assert (await deliver(client, raw, headers)).status_code == 200

    await asyncio.gather(*(post(n) for n in range(50)))
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE direction='inbound' AND status "
                                  "IN ('received','processing') HAVING count(*) = 0"), timeout=20)
    replies = await db_rows(db, "SELECT 1 FROM messages WHERE direction='outbound' AND status='sent'")
    skipped = await db_rows(
        db, "SELECT 1 FROM messages WHERE status='skipped' AND status_reason='no_credits'")
    assert len(replies) == 10 and len(skipped) == 40
    assert len(await graph.requests(account_id=world.account_id)) == 10
    balance = (await db_rows(db, "SELECT credit_balance FROM tenants"))[0][0]
    ledger = (await db_rows(db, "SELECT sum(delta) FROM credit_ledger"))[0][0]
    assert balance == 0 and ledger == 0


async def test_human_mode_stores_but_does_not_answer(client, runtime, worker, graph, test_env):
    world = await make_world(runtime)
    db = test_env["DATABASE_URL"]
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("first")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent'"))
    await db_rows(db, "UPDATE conversations SET mode='human'")
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("for a human")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    row = await wait_for(lambda: db_rows(db, "SELECT status_reason FROM messages WHERE text='for a human' "
                                        "AND status='skipped'"))
    assert row[0][0] == "human_mode"
    assert len(await graph.requests(account_id=world.account_id)) == 1


async def test_channel_cache_is_invalidated_when_the_agent_changes(client, runtime, worker, graph, test_env):
    from app.agents.service import delete_agent
    from app.effects import flush, take

    world = await make_world(runtime)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("cached?")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    assert await runtime.redis.get(f"mca:chan:whatsapp:{world.account_id}") is not None
    async with transaction(runtime.sessions) as s:
        await delete_agent(s, world.tenant_id, world.agent_id)
    await flush(take(s), runtime.redis)
    assert await runtime.redis.get(f"mca:chan:whatsapp:{world.account_id}") is None


async def test_backpressure_answers_503_and_stores_nothing(client, runtime, test_env, monkeypatch):
    world = await make_world(runtime)
    monkeypatch.setattr(client._transport.app.state.runtime.settings, "queue_max_pending", 1)
    monkeypatch.setattr(metrics._pending, "at", 0.0)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("one")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    monkeypatch.setattr(metrics._pending, "at", 0.0)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("two")]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    rows = await db_rows(test_env["DATABASE_URL"], "SELECT text FROM messages")
    assert [r[0] for r in rows] == ["one"]


async def test_fencing_a_holder_whose_lease_lapsed_cannot_commit(runtime):
    key = f"c:{uuid.uuid4()}"
    first = OrderingLock(runtime, key)
    assert await first.acquire()
    assert not await OrderingLock(runtime, key).acquire()
    # The first holder stalls past its lease (and Redis forgets the key, as after a flush).
    first._renewer.cancel()
    await runtime.redis.flushdb()
    async with transaction(runtime.sessions) as s:
        await s.execute(__import__("sqlalchemy").text(
            "UPDATE ordering_leases SET expires_at = now() - interval '1 second' WHERE key = :k"),
            {"k": key})
    second = OrderingLock(runtime, key)
    assert await second.acquire()
    with pytest.raises(LeaseLost):
        async with transaction(runtime.sessions) as s:
            await first.fence(s)
    async with transaction(runtime.sessions) as s:
        await second.fence(s)
    await second.release()
    await first.release()


async def test_channel_ordering_scope_answers_in_arrival_order_across_customers(
    client, runtime, graph, model, test_env, monkeypatch
):
    monkeypatch.setattr(runtime.settings, "ordering_scope", "channel")
    world = await make_world(runtime)
    await model.config(latency_ms=50)
    for n in range(6):
        raw, headers = signed(wa_webhook(world.account_id, [wa_message(f"c{n}", sender=f"5215{n:09d}")]))
        await client.post("/webhooks/meta", content=raw, headers=headers)
    async with running_worker(runtime.settings):
        sends = await wait_for(lambda: _all_sent(graph, world.account_id, 6), timeout=15)
    assert [s["json"]["text"]["body"] for s in sends] == [f"[sandbox] c{n}" for n in range(6)]


async def _all_sent(graph, account: str, n: int):
    reqs = await graph.requests(account_id=account)
    return reqs if len(reqs) >= n else None


async def test_sweeper_resends_an_operator_message_whose_job_was_lost(runtime, worker, graph, test_env):
    from app.conversations.service import add_message
    from app.models import Conversation

    world = await make_world(runtime)
    db = test_env["DATABASE_URL"]
    from app.channels.adapters.base import InboundMessage
    from app.channels.routing import route
    from app.pipeline.ingest import ingest_message

    async with transaction(runtime.sessions) as s:
        ch = await route(runtime, "whatsapp", world.account_id)
        inbound = await ingest_message(s, ch, InboundMessage(
            world.account_id, "wamid.x", "5215500000000", "text", "hi", True, {},
            wa_id="5215500000000"))
        await s.execute(__import__("sqlalchemy").text("UPDATE messages SET status='answered'"))
        conv = await s.get(Conversation, inbound.conversation_id)
        conv.mode = "human"
        # Stored, but the process died before it enqueued the send job.
        await add_message(s, conv, direction="outbound", sender_role="operator", type="text",
                          text="operator here", status="pending")
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id))
    assert [x["json"]["text"]["body"] for x in sends] == ["operator here"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE text='operator here' AND status='sent'"))
