"""Connecting a channel proves the token owns the account: no tenant takes over another
business's WhatsApp number or Instagram account."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from app.channels.service import channel_token
from app.channels.verification import verify_account
from app.errors import ChannelVerificationFailed
from app.models import Channel
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows

CREATE = """mutation($input: CreateChannelInput!) {
  createChannel(input: $input) { id providerAccountId displayName verifiedName displayPhoneNumber status }
}"""
UPDATE = """mutation($id: ID!, $input: UpdateChannelInput!) {
  updateChannel(id: $id, input: $input) { id status verifiedName } }"""
VICTIM_NUMBER = "106540352242922"


async def _channels_for(test_env: dict[str, str], account: str) -> list[Any]:
    return await db_rows(test_env["DATABASE_URL"],
                         "SELECT tenant_id FROM channels WHERE provider_account_id = $1", account)


async def test_a_token_that_does_not_own_the_number_cannot_connect_it(
    client, rt, world, graph, test_env,
):
    await graph.own("whatsapp", VICTIM_NUMBER, "EAA-victim-token", name="Victim Shop",
                    display_phone_number="+1 555-010-0200")
    # The attacker's own, genuine token (it owns the attacker's number), and a made-up one.
    await graph.own("whatsapp", world.account_id, "EAA-attacker-token")
    for token, reason in (("anything", "invalid or expired"),
                          ("EAA-attacker-token", "belongs to another business")):
        body = await gql(client, CREATE, {"input": {
            "kind": "WHATSAPP", "providerAccountId": VICTIM_NUMBER, "accessToken": token}},
            key=world.api_key)
        assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"], body
        assert reason in body["errors"][0]["message"]
        assert body["data"] is None
    assert await _channels_for(test_env, VICTIM_NUMBER) == []
    # Meta was asked about that number, with the token the caller gave.
    asked = [(x["account_id"], x["authorization"], x["fields"]) for x in await graph.lookups()]
    assert (VICTIM_NUMBER, "Bearer anything", "id,display_phone_number,verified_name") in asked

    # The real owner is not locked out (no CONFLICT), and gets Meta's name and number.
    victim = await make_world(rt, name="Victim", kind="webchat", with_agent=False)
    made = ok(await gql(client, CREATE, {"input": {
        "kind": "WHATSAPP", "providerAccountId": VICTIM_NUMBER, "accessToken": "EAA-victim-token"}},
        key=victim.api_key))["createChannel"]
    assert made["displayName"] == "Victim Shop" == made["verifiedName"]
    assert made["displayPhoneNumber"] == "+1 555-010-0200"
    [row] = await _channels_for(test_env, VICTIM_NUMBER)
    assert row["tenant_id"] == victim.tenant_id


async def test_instagram_token_must_be_the_accounts_own(client, world, graph, test_env):
    await graph.own("instagram", "17841400000000001", "IGQ-attacker", name="attacker.shop")
    body = await gql(client, CREATE, {"input": {
        "kind": "INSTAGRAM", "providerAccountId": "17841400000000002",
        "accessToken": "IGQ-attacker"}}, key=world.api_key)
    assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
    assert "belongs to account 17841400000000001, not 17841400000000002" in (
        body["errors"][0]["message"])
    assert await _channels_for(test_env, "17841400000000002") == []
    assert (await graph.lookups())[-1]["fields"] == "user_id,username"

    made = ok(await gql(client, CREATE, {"input": {
        "kind": "INSTAGRAM", "providerAccountId": "17841400000000001",
        "accessToken": "IGQ-attacker"}}, key=world.api_key))["createChannel"]
    assert made["verifiedName"] == "attacker.shop" and made["displayPhoneNumber"] is None


async def test_graph_permission_errors_refuse_the_connection(client, world, graph, test_env):
    await graph.own("whatsapp", "555000111", "EAA-limited")
    for code in (10, 200):
        await graph.script([{"match_kind": "lookup", "status": 403, "code": code}])
        body = await gql(client, CREATE, {"input": {
            "kind": "WHATSAPP", "providerAccountId": "555000111", "accessToken": "EAA-limited"}},
            key=world.api_key)
        assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
        message = body["errors"][0]["message"]
        assert "lacks the permission" in message and f"Graph error {code}" in message
    assert await _channels_for(test_env, "555000111") == []


async def test_an_account_id_that_is_not_a_number_is_refused_before_meta_is_asked(
    client, world, graph,
):
    before = len(await graph.lookups())
    body = await gql(client, CREATE, {"input": {
        "kind": "WHATSAPP", "providerAccountId": "me", "accessToken": "EAA-x"}}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and "providerAccountId" in body["errors"][0]["message"]
    body = await gql(client, CREATE, {"input": {
        "kind": "WHATSAPP", "providerAccountId": "123", "accessToken": "EAA\r\nX-Evil: 1"}},
        key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and "accessToken" in body["errors"][0]["message"]
    assert len(await graph.lookups()) == before


async def test_a_new_token_is_verified_before_it_replaces_the_old_one(client, rt, world, graph):
    channel_id = str(world.channel_id)
    body = await gql(client, UPDATE, {"id": channel_id, "input": {"accessToken": "EAA-stolen"}},
                     key=world.api_key)
    assert codes(body) == ["CHANNEL_VERIFICATION_FAILED"]
    async with rt.sessions() as s:
        row = await s.get(Channel, world.channel_id)
        assert channel_token(row, rt.settings) == world.token

    async with rt.sessions() as s, s.begin():
        row = await s.get(Channel, world.channel_id)
        row.status = "needs_reauth"
    await graph.own("whatsapp", world.account_id, "EAA-renewed", name="Acme Renamed")
    updated = ok(await gql(client, UPDATE, {"id": channel_id, "input": {"accessToken": "EAA-renewed"}},
                           key=world.api_key))["updateChannel"]
    assert updated["status"] == "ACTIVE" and updated["verifiedName"] == "Acme Renamed"
    async with rt.sessions() as s:
        row = await s.get(Channel, world.channel_id)
        assert channel_token(row, rt.settings) == "EAA-renewed"


async def test_no_answer_from_meta_is_a_refusal_not_a_connection(rt):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v25.0"
    settings = rt.settings.model_copy(update={"meta_graph_api_base_url": dead})
    with pytest.raises(ChannelVerificationFailed, match="could not be reached"):
        await verify_account(rt.http, settings, "whatsapp", "123456", "EAA-token")
