"""The channel's business account (verified with its token), the approved templates read from
Meta page by page, and their refresh when Meta reports a template change."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Channel, MessageTemplate
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import wait_for
from tests.meta import signed, wa_message, wa_webhook
from tests.templates.helpers import ORDER_UPDATE, SET_WABA, WABA, connect_waba, template

TEMPLATES = """query($c: ID!, $r: Boolean! = false) {
  templates(channelId: $c, refresh: $r) {
    name language status category body footer unsupportedReason
    parameters { key component name example }
  }
}"""


async def test_approved_templates_are_read_page_by_page(client, rt, world, graph):
    listed = [template(f"t{i:03}", "PENDING" if i % 10 == 0 else "APPROVED") for i in range(230)]
    await connect_waba(client, graph, world, [ORDER_UPDATE, *listed])
    found = ok(await gql(client, TEMPLATES, {"c": str(world.channel_id)},
                         key=world.api_key))["templates"]
    # 231 listed in three pages of 100; the 23 PENDING ones are not offered.
    assert len(found) == 231 - 23
    assert {t["status"] for t in found} == {"APPROVED"}
    order = next(t for t in found if t["name"] == "order_update")
    assert order == {
        "name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
        "body": "Hi {{1}}, your order {{2}} has shipped.", "footer": "Acme",
        "unsupportedReason": None,
        "parameters": [{"key": "body.1", "component": "body", "name": "1", "example": "Ana"},
                       {"key": "body.2", "component": "body", "name": "2", "example": "A-1"}],
    }
    pages = [lk for lk in await graph.lookups() if lk["path"].endswith("/message_templates")]
    assert [lk["query"].get("after") for lk in pages] == [None, "100", "200"]
    assert all(lk["authorization"] == f"Bearer {world.token}" for lk in pages)
    # The copy answers now; Meta is asked again only on refresh.
    ok(await gql(client, TEMPLATES, {"c": str(world.channel_id)}, key=world.api_key))
    assert len([lk for lk in await graph.lookups()
                if lk["path"].endswith("/message_templates")]) == 3
    await graph.waba(WABA, world.token, [world.account_id], [ORDER_UPDATE])
    fresh = ok(await gql(client, TEMPLATES, {"c": str(world.channel_id), "r": True},
                         key=world.api_key))["templates"]
    assert [t["name"] for t in fresh] == ["order_update"]
    async with rt.sessions() as s:
        assert len((await s.scalars(select(MessageTemplate))).all()) == 1


async def test_another_tenants_channel_is_not_found(client, world, other, graph):
    await connect_waba(client, graph, world)
    body = await gql(client, TEMPLATES, {"c": str(world.channel_id)}, key=other.api_key)
    assert codes(body) == ["NOT_FOUND"]
    body = await gql(client, SET_WABA, {"id": str(world.channel_id), "w": WABA}, key=other.api_key)
    assert codes(body) == ["NOT_FOUND"]


async def test_a_business_account_must_hold_the_number(client, rt, world, graph):
    await graph.waba(WABA, world.token, ["999999"], [ORDER_UPDATE])
    body = await gql(client, SET_WABA, {"id": str(world.channel_id), "w": WABA}, key=world.api_key)
    assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
    assert "does not hold phone number" in body["errors"][0]["message"]
    await graph.waba(WABA, "someone-elses-token", [world.account_id], [ORDER_UPDATE])
    body = await gql(client, SET_WABA, {"id": str(world.channel_id), "w": WABA}, key=world.api_key)
    assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
    assert codes(await gql(client, SET_WABA, {"id": str(world.channel_id), "w": "../me"},
                           key=world.api_key)) == ["BAD_USER_INPUT"]
    async with rt.sessions() as s:
        channel = await s.get(Channel, world.channel_id)
    assert channel is not None and "waba_id" not in channel.settings
    # Without one, the list says what is missing instead of failing.
    body = await gql(client, TEMPLATES, {"c": str(world.channel_id), "r": True}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "Business Account" in body["errors"][0]["message"]


async def test_a_template_webhook_refreshes_the_copy(client, rt, world, graph, worker):
    await connect_waba(client, graph, world)
    names = [t["name"] for t in ok(await gql(client, TEMPLATES, {"c": str(world.channel_id)},
                                             key=world.api_key))["templates"]]
    assert names == ["order_update", "welcome"]
    # Meta approves a new template and pauses another, and says so.
    await graph.waba(WABA, world.token, [world.account_id],
                     [{**ORDER_UPDATE, "status": "PAUSED"}, template("renewal")])
    raw, headers = signed({"object": "whatsapp_business_account", "entry": [{
        "id": WABA, "time": 1760000000, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": "APPROVED", "message_template_id": 7,
                      "message_template_name": "renewal", "message_template_language": "en_US",
                      "reason": "NONE"}}]}]})
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200

    async def approved() -> list[str]:
        async with rt.sessions() as s:
            rows = await s.scalars(select(MessageTemplate.name)
                                   .where(MessageTemplate.status == "APPROVED"))
            return list(rows.all())

    await wait_for(lambda: _equal(approved(), ["renewal"]))
    names = [t["name"] for t in ok(await gql(client, TEMPLATES, {"c": str(world.channel_id)},
                                             key=world.api_key))["templates"]]
    assert names == ["renewal"]


async def _equal(got, expected) -> bool:
    return await got == expected


async def test_the_business_account_is_learnt_from_a_webhook(client, rt, world, graph, worker):
    await graph.waba(WABA, world.token, [world.account_id], [ORDER_UPDATE])
    body = wa_webhook(world.account_id, [wa_message("hola")])
    body["entry"][0]["id"] = WABA
    raw, headers = signed(body)
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    async def learnt() -> bool:
        async with rt.sessions() as s:
            channel = await s.get(Channel, world.channel_id)
            count = len((await s.scalars(select(MessageTemplate))).all())
        return channel is not None and channel.settings.get("waba_id") == WABA and count == 1

    await wait_for(learnt)
    # Verified with the channel's own token before it was stored.
    checks = [lk for lk in await graph.lookups() if lk["path"].endswith("/phone_numbers")]
    assert checks and checks[0]["authorization"] == f"Bearer {world.token}"


async def test_an_unverifiable_business_account_from_a_webhook_is_not_stored(
    client, rt, world, graph, worker
):
    # The number does not belong to that business account (for this token).
    await graph.waba(WABA, world.token, ["123"], [ORDER_UPDATE])
    body = wa_webhook(world.account_id, [wa_message("hola")])
    body["entry"][0]["id"] = WABA
    raw, headers = signed(body)
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    await wait_for(lambda: _asked(graph))
    async with rt.sessions() as s:
        channel = await s.get(Channel, world.channel_id)
    assert channel is not None and "waba_id" not in channel.settings


async def _asked(graph) -> bool:
    return any(lk["path"].endswith("/phone_numbers") for lk in await graph.lookups())


CREATE = """mutation($i: CreateChannelInput!) {
  createChannel(input: $i) { id businessAccountId }
}"""


async def test_create_channel_with_its_business_account(client, rt, world, graph):
    await graph.own("whatsapp", "5550002", "EAAnew", name="Second line")
    await graph.waba(WABA, "EAAnew", ["5550002"], [ORDER_UPDATE])
    made = ok(await gql(client, CREATE, {"i": {
        "kind": "WHATSAPP", "providerAccountId": "5550002", "accessToken": "EAAnew",
        "businessAccountId": WABA}}, key=world.api_key))["createChannel"]
    assert made["businessAccountId"] == WABA
    found = ok(await gql(client, TEMPLATES, {"c": made["id"]}, key=world.api_key))["templates"]
    assert [t["name"] for t in found] == ["order_update"]
    # Another number of no such business account: nothing is connected.
    await graph.own("whatsapp", "5550003", "EAAnew", name="Third line")
    body = await gql(client, CREATE, {"i": {
        "kind": "WHATSAPP", "providerAccountId": "5550003", "accessToken": "EAAnew",
        "businessAccountId": WABA}}, key=world.api_key)
    assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
    async with rt.sessions() as s:
        accounts = (await s.scalars(select(Channel.provider_account_id))).all()
    assert "5550003" not in accounts
    body = await gql(client, CREATE, {"i": {"kind": "WEBCHAT", "businessAccountId": WABA}},
                     key=world.api_key)
    assert codes(body) == ["VALIDATION"]


async def test_meta_unreachable_for_the_list_is_a_clear_error(client, rt, world, graph):
    await connect_waba(client, graph, world)
    await graph.script([{"status": 500, "code": 2, "match_kind": "lookup",
                         "match_account": WABA}])
    body = await gql(client, TEMPLATES, {"c": str(world.channel_id)}, key=world.api_key)
    assert codes(body) == ["PROVIDER_ERROR"] and "Graph error 2" in body["errors"][0]["message"]
    async with rt.sessions() as s:
        assert (await s.scalars(select(MessageTemplate))).all() == []
    # Meta answers again: the list is read.
    found = ok(await gql(client, TEMPLATES, {"c": str(world.channel_id)},
                         key=world.api_key))["templates"]
    assert len(found) == 2
