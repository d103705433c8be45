"""sendOperatorMessage and retryMessage: stored as pending in one transaction, the send job
enqueued only after commit, refused before anything is sent when they cannot go out."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.db import transaction
from app.models import Conversation, Message
from tests.factories import make_world
from tests.graphql.helpers import (
    add_outbound,
    codes,
    fail_message,
    gql,
    hours_ago,
    ok,
    seed_conversation,
    set_inbound_at,
)

SEND = """mutation($c: ID!, $t: String!) {
  sendOperatorMessage(conversationId: $c, text: $t) { id seq direction senderRole text status }
}"""
RETRY = "mutation($id: ID!) { retryMessage(id: $id) { id status errorCode statusReason } }"


async def send_jobs(rt) -> list[str]:
    return [j.args[0] for j in await rt.redis.queued_jobs() if j.function == "send_message"]


async def message_count(rt, conv: uuid.UUID) -> int:
    async with rt.sessions() as s:
        return int(await s.scalar(select(func.count()).where(Message.conversation_id == conv)) or 0)


async def test_operator_message_takes_over_and_is_queued_for_sending(client, rt, world):
    conv = await seed_conversation(rt, world)
    sent = ok(await gql(client, SEND, {"c": str(conv), "t": "Hola, soy Luis"}, key=world.api_key))
    msg = sent["sendOperatorMessage"]
    assert msg == {"id": msg["id"], "seq": 2, "direction": "OUTBOUND", "senderRole": "OPERATOR",
                   "text": "Hola, soy Luis", "status": "PENDING"}
    assert await send_jobs(rt) == [msg["id"]]
    async with rt.sessions() as s:
        mode = await s.scalar(select(Conversation.mode).where(Conversation.id == conv))
    assert mode == "human"


async def test_operator_message_refused_when_the_window_is_closed(client, rt, world):
    conv = await seed_conversation(rt, world)
    await set_inbound_at(rt, conv, hours_ago(25))
    body = await gql(client, SEND, {"c": str(conv), "t": "late"}, key=world.api_key)
    assert codes(body) == ["WINDOW_CLOSED"] and "24-hour" in body["errors"][0]["message"]
    await set_inbound_at(rt, conv, None)
    assert codes(await gql(client, SEND, {"c": str(conv), "t": "late"}, key=world.api_key)) == [
        "WINDOW_CLOSED"]
    # Nothing was stored, switched or queued.
    assert await message_count(rt, conv) == 1 and await send_jobs(rt) == []
    async with rt.sessions() as s:
        assert await s.scalar(select(Conversation.mode).where(Conversation.id == conv)) == "ai"
    await set_inbound_at(rt, conv, hours_ago(23.9))
    ok(await gql(client, SEND, {"c": str(conv), "t": "just in time"}, key=world.api_key))


async def test_webchat_has_no_window(client, rt):
    web = await make_world(rt, kind="webchat", name="Web")
    conv = await seed_conversation(rt, web)
    await set_inbound_at(rt, conv, hours_ago(100))
    ok(await gql(client, SEND, {"c": str(conv), "t": "still fine"}, key=web.api_key))


async def test_operator_message_validation(client, rt, world):
    conv = await seed_conversation(rt, world)
    assert codes(await gql(client, SEND, {"c": str(conv), "t": "  "}, key=world.api_key)) == ["VALIDATION"]
    assert codes(await gql(client, SEND, {"c": str(conv), "t": "x" * 4097}, key=world.api_key)) == [
        "BAD_USER_INPUT"]
    async with transaction(rt.sessions) as s:
        row = await s.get(Conversation, conv)
        assert row is not None
        row.archived_at = func.now()
    body = await gql(client, SEND, {"c": str(conv), "t": "hi"}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "archived" in body["errors"][0]["message"]
    assert await send_jobs(rt) == []


async def test_retry_only_a_failed_outbound_message(client, rt, world):
    conv = await seed_conversation(rt, world)
    reply = await add_outbound(rt, world.tenant_id, conv, status="sent")
    body = await gql(client, RETRY, {"id": str(reply)}, key=world.api_key)
    assert codes(body) == ["VALIDATION"]
    async with rt.sessions() as s:
        inbound = await s.scalar(select(Message.id).where(Message.conversation_id == conv,
                                                          Message.seq == 1))
    assert codes(await gql(client, RETRY, {"id": str(inbound)}, key=world.api_key)) == ["VALIDATION"]
    assert await send_jobs(rt) == []

    await fail_message(rt, reply)
    retried = ok(await gql(client, RETRY, {"id": str(reply)}, key=world.api_key))["retryMessage"]
    assert retried == {"id": str(reply), "status": "PENDING", "errorCode": None, "statusReason": None}
    assert await send_jobs(rt) == [str(reply)]
    async with rt.sessions() as s:
        row = await s.get(Message, reply)
    assert row is not None and row.meta["retry_charge"] == 1 and row.meta["retry_n"] == 1


async def test_retry_refused_when_the_window_is_closed(client, rt, world):
    conv = await seed_conversation(rt, world)
    reply = await add_outbound(rt, world.tenant_id, conv, status="sent")
    await fail_message(rt, reply)
    await set_inbound_at(rt, conv, hours_ago(30))
    assert codes(await gql(client, RETRY, {"id": str(reply)}, key=world.api_key)) == ["WINDOW_CLOSED"]
    async with rt.sessions() as s:
        assert (await s.get(Message, reply)).status == "failed"  # type: ignore[union-attr]
    assert await send_jobs(rt) == []


async def test_a_failure_after_commit_does_not_fail_the_committed_mutation(client, rt, world,
                                                                           monkeypatch, caplog):
    from app.graphql import writes

    async def redis_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(writes, "flush", redis_down)
    conv = await seed_conversation(rt, world)
    body = await gql(client, SEND, {"c": str(conv), "t": "committed anyway"}, key=world.api_key)
    assert ok(body)["sendOperatorMessage"]["status"] == "PENDING"
    assert await message_count(rt, conv) == 2
    assert "side effects of a committed mutation could not be run" in caplog.text
