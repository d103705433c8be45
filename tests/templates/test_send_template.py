"""sendTemplate and startConversation: checked against the template before Meta is asked,
stored as the conversation's outbound message with its rendered text, debited, sent outside
the 24-hour window, and Meta's template errors read as what to fix."""

from __future__ import annotations

import asyncio
import json
import uuid

from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.db import transaction
from app.models import Contact, Conversation, CreditLedgerEntry, Message, Tenant
from app.realtime.topics import tenant_topic
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, hours_ago, ok, seed_conversation, set_inbound_at
from tests.helpers import wait_for
from tests.meta import signed, wa_message, wa_status, wa_webhook
from tests.templates.helpers import connect_waba

SEND = """mutation($i: SendTemplateInput!) {
  sendTemplate(input: $i) { id seq direction senderRole type text status }
}"""
START = """mutation($i: StartConversationInput!) {
  startConversation(input: $i) {
    conversation { id mode contact { externalId waId } }
    message { id seq type text status }
  }
}"""
MESSAGE = "query($c: ID!) { conversation(id: $c) { messages(last: 5) { edges { node { " \
          "id type text status statusReason errorCode errorTitle } } } } }"


async def customer(rt, world) -> uuid.UUID:
    """A WhatsApp customer's conversation (the number is what templates are sent to)."""
    conv = await seed_conversation(rt, world, external_id="5215512345678")
    async with transaction(rt.sessions) as s:
        await s.execute(update(Contact).where(Contact.external_id == "5215512345678")
                        .values(wa_id="5215512345678"))
    return conv


def order(conv, *values: str, **extra):
    return {"i": {"conversationId": str(conv), "name": "order_update", "language": "en_US",
                  "parameters": [{"key": f"body.{n}", "value": v}
                                 for n, v in enumerate(values, 1)], **extra}}


async def balance(rt, tenant_id) -> int:
    async with rt.sessions() as s:
        return int(await s.scalar(select(Tenant.credit_balance).where(Tenant.id == tenant_id)) or 0)


async def count(rt, conv) -> int:
    async with rt.sessions() as s:
        return int(await s.scalar(select(func.count()).where(Message.conversation_id == conv)) or 0)


async def last_message(client, world, conv) -> dict:
    body = ok(await gql(client, MESSAGE, {"c": str(conv)}, key=world.api_key))
    return body["conversation"]["messages"]["edges"][-1]["node"]


async def test_a_template_goes_out_after_the_window_closed(client, rt, world, graph, worker):
    await connect_waba(client, graph, world)
    conv = await customer(rt, world)
    await set_inbound_at(rt, conv, hours_ago(30))
    redis = Redis.from_url(rt.settings.redis_url)
    events = redis.pubsub()
    await events.subscribe(tenant_topic(str(world.tenant_id)))
    try:
        sent = ok(await gql(client, SEND, order(conv, "Ana", "A-7"),
                            key=world.api_key))["sendTemplate"]
        assert sent == {"id": sent["id"], "seq": 2, "direction": "OUTBOUND",
                        "senderRole": "OPERATOR", "type": "TEMPLATE",
                        "text": "Hi Ana, your order A-7 has shipped.\n\nAcme", "status": "PENDING"}
        sends = await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
        assert sends[0]["json"] == {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "+5215512345678", "type": "template",
            "template": {"name": "order_update", "language": {"code": "en_US"},
                         "components": [{"type": "body", "parameters": [
                             {"type": "text", "text": "Ana"}, {"type": "text", "text": "A-7"}]}]},
            "biz_opaque_callback_data": sent["id"],
        }
        await wait_for(lambda: _status(client, world, conv, "SENT"))
        # The dashboard's subscription hears of it like any other message.
        seen: list[dict] = []

        async def heard() -> bool:
            msg = await events.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is not None:
                seen.append(json.loads(msg["data"]))
            return any(e.get("type") == "MessageCreated" and e["message"]["id"] == sent["id"]
                       and e["message"]["text"].startswith("Hi Ana") for e in seen)

        await wait_for(heard)
    finally:
        await events.aclose()
        await redis.aclose()
    # TEMPLATE_CREDITS (1) debited once; the conversation keeps its mode.
    assert await balance(rt, world.tenant_id) == 99
    async with rt.sessions() as s:
        assert (await s.get(Conversation, conv)).mode == "ai"  # type: ignore[union-attr]


async def _status(client, world, conv, status: str) -> bool:
    return (await last_message(client, world, conv))["status"] == status


async def test_parameters_are_checked_before_meta_is_asked(client, rt, world, graph):
    await connect_waba(client, graph, world)
    conv = await seed_conversation(rt, world)
    for variables, code, words in [
        (order(conv, "Ana"), "BAD_USER_INPUT", "'body.2' is missing"),
        (order(conv, "Ana", "A-7", "extra"), "BAD_USER_INPUT", "unknown template parameter"),
        (order(conv, "Ana", "two\nlines"), "BAD_USER_INPUT", "one line"),
        ({"i": {**order(conv, "Ana", "A-7")["i"], "language": "es"}}, "NOT_FOUND",
         "template 'order_update' in es not found"),
        ({"i": {**order(conv, "Ana", "A-7")["i"], "language": "e s"}}, "BAD_USER_INPUT",
         "language"),
    ]:
        body = await gql(client, SEND, variables, key=world.api_key)
        assert codes(body) == [code] and words in body["errors"][0]["message"], body
    assert await count(rt, conv) == 1 and await balance(rt, world.tenant_id) == 100
    assert await graph.requests(kind="send") == []


async def test_not_enough_credits_stores_nothing(client, rt, graph):
    poor = await make_world(rt, credits=0, name="Poor")
    await connect_waba(client, graph, poor)
    conv = await seed_conversation(rt, poor)
    body = await gql(client, SEND, order(conv, "Ana", "A-7"), key=poor.api_key)
    assert codes(body) == ["INSUFFICIENT_CREDITS"]
    assert await count(rt, conv) == 1 and await rt.redis.queued_jobs() == []


async def test_another_tenants_conversation_is_not_found(client, rt, world, other, graph):
    await connect_waba(client, graph, world)
    conv = await seed_conversation(rt, world)
    body = await gql(client, SEND, order(conv, "Ana", "A-7"), key=other.api_key)
    assert codes(body) == ["NOT_FOUND"] and await count(rt, conv) == 1


async def test_a_template_error_is_explained_and_refunded(client, rt, world, graph, worker):
    await connect_waba(client, graph, world)
    conv = await customer(rt, world)
    await set_inbound_at(rt, conv, hours_ago(48))
    await graph.script([{"code": 132015, "title": "Template is paused",
                         "details": "Template is paused due to low quality"}])
    ok(await gql(client, SEND, order(conv, "Ana", "A-7"), key=world.api_key))
    await wait_for(lambda: _status(client, world, conv, "FAILED"))
    failed = await last_message(client, world, conv)
    assert failed["statusReason"] == "TEMPLATE_ERROR" and failed["errorCode"] == "132015", failed
    assert failed["errorTitle"].startswith("template refused: the template is paused by Meta")
    assert await balance(rt, world.tenant_id) == 100
    async with rt.sessions() as s:
        moves = (await s.scalars(select(CreditLedgerEntry.delta)
                                 .order_by(CreditLedgerEntry.created_at))).all()
    assert moves[-2:] == [-1, 1]
    # A template Meta no longer has (our copy is older) is Meta's 132001, in words too.
    await graph.waba("102290129340398", world.token, [world.account_id], [])
    ok(await gql(client, SEND, order(conv, "Ana", "A-8"), key=world.api_key))
    await wait_for(lambda: _error(client, world, conv, "132001"))
    assert "does not exist in this language" in (await last_message(client, world, conv))[
        "errorTitle"]


async def _error(client, world, conv, code: str) -> bool:
    return (await last_message(client, world, conv))["errorCode"] == code


async def test_start_conversation_with_a_new_customer(client, rt, world, other, graph, worker):
    await connect_waba(client, graph, world)
    variables = {"i": {"channelId": str(world.channel_id), "to": "+52 1 55 9876-5432",
                       "template": {"name": "welcome", "language": "es"}}}
    started = ok(await gql(client, START, variables, key=world.api_key))["startConversation"]
    assert started["conversation"]["contact"] == {"externalId": "5215598765432",
                                                  "waId": "5215598765432"}
    assert started["message"] == {"id": started["message"]["id"], "seq": 1, "type": "TEMPLATE",
                                  "text": "¡Hola! ¿Seguimos?", "status": "PENDING"}
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
    assert sends[0]["json"]["to"] == "+5215598765432"
    assert sends[0]["json"]["template"] == {"name": "welcome", "language": {"code": "es"},
                                            "components": []}
    conv = uuid.UUID(started["conversation"]["id"])
    await wait_for(lambda: _status(client, world, conv, "SENT"))
    # Again: the open conversation is used, not a second one.
    again = ok(await gql(client, START, variables, key=world.api_key))["startConversation"]
    assert again["conversation"]["id"] == str(conv) and again["message"]["seq"] == 2
    async with rt.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 1
    # When the customer answers, the agent picks the conversation up as usual.
    assert await balance(rt, world.tenant_id) == 98
    # Bad numbers, bad parameters, another tenant's channel, a web chat channel: nothing stored.
    bad = {"i": {**variables["i"], "to": "call me"}}
    assert codes(await gql(client, START, bad, key=world.api_key)) == ["BAD_USER_INPUT"]
    bad = {"i": {**variables["i"], "to": "+44 20 7946 0000", "template": {
        "name": "order_update", "language": "en_US", "parameters": [{"key": "body.1",
                                                                    "value": "Ana"}]}}}
    body = await gql(client, START, bad, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and "'body.2' is missing" in body["errors"][0]["message"]
    async with rt.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Contact)) == 1
    assert codes(await gql(client, START, variables, key=other.api_key)) == ["NOT_FOUND"]
    web = await make_world(rt, kind="webchat", name="Web")
    body = await gql(client, START, {"i": {**variables["i"], "channelId": str(web.channel_id)}},
                     key=web.api_key)
    assert codes(body) == ["VALIDATION"] and "WhatsApp" in body["errors"][0]["message"]
    await asyncio.sleep(0)


async def test_a_template_failed_by_a_status_webhook_is_explained_and_refunded(
    client, rt, world, graph, worker
):
    await connect_waba(client, graph, world)
    conv = await customer(rt, world)
    sent = ok(await gql(client, SEND, order(conv, "Ana", "A-7"), key=world.api_key))["sendTemplate"]
    await wait_for(lambda: _status(client, world, conv, "SENT"))
    assert (await last_message(client, world, conv))["id"] == sent["id"]
    assert await balance(rt, world.tenant_id) == 99
    [send] = await graph.requests(account_id=world.account_id, kind="send")
    provider_id = send["response"]["messages"][0]["id"]
    raw, headers = signed(wa_webhook(world.account_id, statuses=[
        wa_status(provider_id, "failed", code=132016, title="Template disabled")]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["statuses"] == 1
    failed = await last_message(client, world, conv)
    assert (failed["status"], failed["statusReason"], failed["errorCode"]) == (
        "FAILED", "TEMPLATE_ERROR", "132016")
    assert "disabled by Meta" in failed["errorTitle"]
    assert await balance(rt, world.tenant_id) == 100
    # The same report again changes nothing (and refunds nothing twice).
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.json()["stale_statuses"] == 1 and await balance(rt, world.tenant_id) == 100


async def test_the_agent_reads_the_template_the_customer_answers(
    client, rt, world, graph, model, worker
):
    await connect_waba(client, graph, world)
    conv = await customer(rt, world)
    async with transaction(rt.sessions) as s:
        row = await s.get(Conversation, conv)
        assert row is not None
        row.context_response_id = "resp_from_before"
        # Answered the day before.
        await s.execute(update(Message).where(Message.conversation_id == conv)
                        .values(status="answered"))
    await set_inbound_at(rt, conv, hours_ago(30))
    ok(await gql(client, SEND, order(conv, "Ana", "A-7"), key=world.api_key))
    await wait_for(lambda: _status(client, world, conv, "SENT"))
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("where is it now?")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    [call] = await wait_for(lambda: model.requests())
    assert "previous_response_id" not in call["body"]
    assert call["body"]["input"][-2:] == [
        {"role": "assistant", "content": "Hi Ana, your order A-7 has shipped.\n\nAcme"},
        {"role": "user", "content": "where is it now?"},
    ]


async def test_a_failed_template_is_retried_outside_the_window_and_charged_again(
    client, rt, world, graph, worker
):
    await connect_waba(client, graph, world)
    conv = await customer(rt, world)
    await set_inbound_at(rt, conv, hours_ago(72))
    await graph.script([{"code": 131000}, {"code": 131000}, {"code": 131000}])
    sent = ok(await gql(client, SEND, order(conv, "Ana", "A-7"), key=world.api_key))["sendTemplate"]
    await wait_for(lambda: _status(client, world, conv, "FAILED"))
    assert await balance(rt, world.tenant_id) == 100
    retry = "mutation($id: ID!) { retryMessage(id: $id) { id status } }"
    again = ok(await gql(client, retry, {"id": sent["id"]}, key=world.api_key))["retryMessage"]
    assert again == {"id": sent["id"], "status": "PENDING"}
    await wait_for(lambda: _status(client, world, conv, "SENT"))
    assert await balance(rt, world.tenant_id) == 99
    sends = await graph.requests(account_id=world.account_id, kind="send")
    assert len(sends) == 4 and sends[-1]["json"]["type"] == "template"
    async with rt.sessions() as s:
        keys = (await s.scalars(select(CreditLedgerEntry.idempotency_key)
                                .where(CreditLedgerEntry.kind != "grant")
                                .order_by(CreditLedgerEntry.created_at))).all()
    assert keys == [f"template:{sent['id']}:0", f"template:{sent['id']}:0:release",
                    f"template:{sent['id']}:1"]
