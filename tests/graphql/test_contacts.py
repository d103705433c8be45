"""The contacts query (search, channel, pages) and updateContact (name and notes)."""

from __future__ import annotations

from typing import Any

import pytest

from app.conversations import service as conversations
from app.db import transaction
from app.models import Channel
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, seed_conversation

CONTACTS = """query Contacts($first: Int, $after: String, $search: String, $channel: ID) {
  contacts(first: $first, after: $after, search: $search, channelId: $channel) {
    edges { node { id externalId profileName name notes displayName waId } }
    pageInfo { hasNextPage endCursor } } }"""
UPDATE = """mutation UpdateContact($id: ID!, $input: UpdateContactInput!) {
  updateContact(id: $id, input: $input) { id name notes profileName displayName } }"""
CONVERSATION_CONTACT = """query Conv($id: ID!) { conversation(id: $id) {
  contact { name notes displayName } } }"""
SEARCH_CONVERSATIONS = """query Search($q: String!) { conversations(filter: {search: $q}) {
  edges { node { contact { displayName } } } } }"""


def _names(data: dict[str, Any]) -> list[str]:
    return [e["node"]["displayName"] for e in data["contacts"]["edges"]]


async def _contact_id(client: Any, key: str, search: str) -> str:
    data = ok(await gql(client, CONTACTS, {"search": search}, key=key))
    [edge] = data["contacts"]["edges"]
    return str(edge["node"]["id"])


async def test_contacts_are_paged_newest_first_and_searched(client, rt, world):
    await seed_conversation(rt, world, name="Ana Lopez", external_id="5215511112222")
    await seed_conversation(rt, world, name="Luis 100%", external_id="5215533334444")
    await seed_conversation(rt, world, name="Eva", external_id="5215555556666")
    other = await make_world(rt, name="Other")
    await seed_conversation(rt, other, name="Ana Elsewhere", external_id="5215511110000")

    first = ok(await gql(client, CONTACTS, {"first": 2}, key=world.api_key))
    assert _names(first) == ["Eva", "Luis 100%"]
    assert first["contacts"]["pageInfo"]["hasNextPage"] is True
    rest = ok(await gql(client, CONTACTS, {"first": 2,
                                           "after": first["contacts"]["pageInfo"]["endCursor"]},
                        key=world.api_key))
    assert _names(rest) == ["Ana Lopez"] and rest["contacts"]["pageInfo"]["hasNextPage"] is False

    # By profile name (any case), by phone, with LIKE's wildcards taken literally.
    assert _names(ok(await gql(client, CONTACTS, {"search": "ana"}, key=world.api_key))) == [
        "Ana Lopez"]
    assert _names(ok(await gql(client, CONTACTS, {"search": "3333"}, key=world.api_key))) == [
        "Luis 100%"]
    assert _names(ok(await gql(client, CONTACTS, {"search": "100%"}, key=world.api_key))) == [
        "Luis 100%"]
    assert _names(ok(await gql(client, CONTACTS, {"search": "0%"}, key=world.api_key))) == [
        "Luis 100%"]
    assert _names(ok(await gql(client, CONTACTS, {"search": "nobody"}, key=world.api_key))) == []
    # By the team's name, once given.
    eva = await _contact_id(client, world.api_key, "Eva")
    ok(await gql(client, UPDATE, {"id": eva, "input": {"name": "Evangelina Ruiz"}},
                 key=world.api_key))
    assert _names(ok(await gql(client, CONTACTS, {"search": "ruiz"}, key=world.api_key))) == [
        "Evangelina Ruiz"]


async def test_a_term_spanning_two_fields_of_a_contact_finds_nothing(client, rt, world):
    # The index is over the fields joined ("Ann 47 Street 5215500004747"); a match is a match
    # within one field, in every search that looks contacts up.
    await seed_conversation(rt, world, name="47 Street", external_id="5215500004747")
    cid = await _contact_id(client, world.api_key, "47 Street")
    ok(await gql(client, UPDATE, {"id": cid, "input": {"name": "Ann"}}, key=world.api_key))
    inbox = """query($q: String!) { conversations(filter: {search: $q, status: [OPEN]}) {
      edges { node { contact { displayName } } } } }"""
    for term, expected in (("ann 47", []), ("street 5215", []), ("47 str", ["Ann"]),
                           ("ann", ["Ann"]), ("00004747", ["Ann"])):
        assert _names(ok(await gql(client, CONTACTS, {"search": term}, key=world.api_key))) == (
            expected), term
        for query in (SEARCH_CONVERSATIONS, inbox):
            data = ok(await gql(client, query, {"q": term}, key=world.api_key))
            assert [e["node"]["contact"]["displayName"]
                    for e in data["conversations"]["edges"]] == expected, (term, query)


async def test_contacts_of_one_channel(client, rt, world):
    await seed_conversation(rt, world, name="On WhatsApp")
    web = await make_world(rt, kind="webchat", name="Web")
    await seed_conversation(rt, web, name="Theirs")
    # A second channel of the same tenant.
    async with transaction(rt.sessions) as s:
        channel = await s.get(Channel, world.channel_id)
        assert channel is not None
        await conversations.upsert_contact(s, channel, "5215599990000", profile_name="Also here")
    data = ok(await gql(client, CONTACTS, {"channel": str(world.channel_id)}, key=world.api_key))
    assert sorted(_names(data)) == ["Also here", "On WhatsApp"]
    for channel_id in (str(web.channel_id), "not-an-id"):
        body = await gql(client, CONTACTS, {"channel": channel_id}, key=world.api_key)
        assert codes(body) == ["NOT_FOUND"]


async def test_update_contact_sets_and_clears_name_and_notes(client, rt, world):
    conv = await seed_conversation(rt, world, name="maria_88")
    cid = await _contact_id(client, world.api_key, "maria")
    updated = ok(await gql(client, UPDATE, {"id": cid, "input": {
        "name": "  María   González ", "notes": "Prefers mornings.\nOwns two stores."}},
        key=world.api_key))["updateContact"]
    assert updated == {"id": cid, "name": "María González",
                       "notes": "Prefers mornings.\nOwns two stores.", "profileName": "maria_88",
                       "displayName": "María González"}
    # Omitted: unchanged.
    kept = ok(await gql(client, UPDATE, {"id": cid, "input": {"notes": "VIP"}},
                        key=world.api_key))["updateContact"]
    assert (kept["name"], kept["notes"]) == ("María González", "VIP")
    # The conversation shows the same contact; its search finds the team's name.
    seen = ok(await gql(client, CONVERSATION_CONTACT, {"id": str(conv)}, key=world.api_key))
    assert seen["conversation"]["contact"] == {"name": "María González", "notes": "VIP",
                                               "displayName": "María González"}
    found = ok(await gql(client, SEARCH_CONVERSATIONS, {"q": "gonzález"}, key=world.api_key))
    assert [e["node"]["contact"]["displayName"] for e in found["conversations"]["edges"]] == [
        "María González"]
    cleared = ok(await gql(client, UPDATE, {"id": cid, "input": {"name": None, "notes": "  "}},
                           key=world.api_key))["updateContact"]
    assert cleared == {"id": cid, "name": None, "notes": None, "profileName": "maria_88",
                       "displayName": "maria_88"}


async def test_the_team_name_survives_the_providers_profile_name(client, rt, world):
    await seed_conversation(rt, world, name="old profile", external_id="5215500001111")
    cid = await _contact_id(client, world.api_key, "old profile")
    ok(await gql(client, UPDATE, {"id": cid, "input": {"name": "Carlos"}}, key=world.api_key))
    # The same customer writes again with a new profile name.
    await seed_conversation(rt, world, name="new profile", external_id="5215500001111")
    [node] = [e["node"] for e in ok(await gql(client, CONTACTS, {"search": "55000011"},
                                              key=world.api_key))["contacts"]["edges"]]
    assert (node["name"], node["profileName"], node["displayName"]) == (
        "Carlos", "new profile", "Carlos")


@pytest.mark.parametrize(("variables", "code"), [
    ({"input": {"name": "x" * 201}}, "BAD_USER_INPUT"),
    ({"input": {"notes": "x" * 4001}}, "BAD_USER_INPUT"),
])
async def test_a_bad_update_is_refused(client, rt, world, variables, code):
    await seed_conversation(rt, world, name="Target")
    cid = await _contact_id(client, world.api_key, "Target")
    assert codes(await gql(client, UPDATE, {"id": cid, **variables}, key=world.api_key)) == [code]
    data = ok(await gql(client, CONTACTS, {"search": "Target"}, key=world.api_key))
    assert data["contacts"]["edges"][0]["node"]["name"] is None


async def test_another_tenants_contact_is_not_found(client, rt, world):
    other = await make_world(rt, name="Other")
    await seed_conversation(rt, other, name="Theirs")
    theirs = await _contact_id(client, other.api_key, "Theirs")
    for contact_id in (theirs, "nope"):
        body = await gql(client, UPDATE, {"id": contact_id, "input": {"name": "Mine now"}},
                         key=world.api_key)
        assert codes(body) == ["NOT_FOUND"]
    assert ok(await gql(client, CONTACTS, {"search": "Theirs"}, key=world.api_key)) == {
        "contacts": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    data = ok(await gql(client, CONTACTS, {"search": "Theirs"}, key=other.api_key))
    assert data["contacts"]["edges"][0]["node"]["name"] is None


async def test_a_bad_page_request_is_refused(client, world):
    assert codes(await gql(client, CONTACTS, {"first": 0}, key=world.api_key)) == ["VALIDATION"]
    assert codes(await gql(client, CONTACTS, {"after": "garbage"}, key=world.api_key)) == [
        "BAD_USER_INPUT"]
