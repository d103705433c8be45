"""A second tenant naming the first tenant's objects gets NOT_FOUND, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Agent, ApiKey, Channel, Contact, Conversation, ConversationNote, Message
from tests.graphql.helpers import add_outbound, codes, fail_message, gql, ok, seed_conversation

ATTEMPTS = [
    ("query($id: ID!) { channel(id: $id) { id } }", "channel"),
    ("query($id: ID!) { agent(id: $id) { id } }", "agent"),
    ("query($id: ID!) { conversation(id: $id) { id } }", "conversation"),
    ("query($id: ID!) { conversations(filter: {channelId: $id}) { edges { node { id } } } }", "channel"),
    ("mutation($id: ID!) { updateChannel(id: $id, input: {displayName: \"pwned\"}) { id } }", "channel"),
    ("mutation($id: ID!) { deleteChannel(id: $id) }", "channel"),
    ("mutation($id: ID!) { createAgent(input: {channelId: $id, name: \"x\", model: \"gpt-4.1\"}) { id } }",
     "channel"),
    ("mutation($id: ID!) { updateAgent(id: $id, input: {name: \"pwned\"}) { id } }", "agent"),
    ("mutation($id: ID!) { deleteAgent(id: $id) }", "agent"),
    ("mutation($id: ID!) { setConversationMode(id: $id, mode: HUMAN) { id } }", "conversation"),
    ("mutation($id: ID!) { sendOperatorMessage(conversationId: $id, text: \"hi\") { id } }",
     "conversation"),
    ("mutation($id: ID!) { retryMessage(id: $id) { id } }", "message"),
    ("mutation($id: ID!) { revokeApiKey(id: $id) { id } }", "api_key"),
    ("query($id: ID!) { contacts(channelId: $id) { edges { node { id } } } }", "channel"),
    ("mutation($id: ID!) { updateContact(id: $id, input: {name: \"pwned\"}) { id } }", "contact"),
    ("mutation($id: ID!) { addNote(conversationId: $id, text: \"hi\") { id } }", "conversation"),
]


@pytest.fixture
async def victim(rt, world):
    conv = await seed_conversation(rt, world)
    failed = await add_outbound(rt, world.tenant_id, conv)
    await fail_message(rt, failed)
    async with rt.sessions() as s:
        key_id = await s.scalar(select(ApiKey.id).where(ApiKey.tenant_id == world.tenant_id))
        contact_id = await s.scalar(select(Conversation.contact_id).where(Conversation.id == conv))
    return {"channel": world.channel_id, "agent": world.agent_id, "conversation": conv,
            "message": failed, "api_key": key_id, "contact": contact_id}


@pytest.mark.parametrize(("query", "kind"), ATTEMPTS, ids=[a[0].split("(")[0].split("{ ")[-1]
                                                            for a in ATTEMPTS])
async def test_other_tenants_ids_are_not_found(client, rt, world, other, victim, query, kind):
    body = await gql(client, query, {"id": str(victim[kind])}, key=other.api_key)
    assert codes(body) == ["NOT_FOUND"], body
    # The owner sees everything as it was.
    async with rt.sessions() as s:
        channel = await s.get(Channel, world.channel_id)
        agent = await s.get(Agent, world.agent_id)
        conv = await s.get(Conversation, victim["conversation"])
        msg = await s.get(Message, victim["message"])
        key = await s.get(ApiKey, victim["api_key"])
    assert channel.deleted_at is None and channel.display_name == "Acme whatsapp"
    assert agent.deleted_at is None and agent.name == "Sales"
    assert conv.mode == "ai" and conv.archived_at is None and conv.last_seq == 2
    assert msg.status == "failed"
    assert key.revoked_at is None
    async with rt.sessions() as s:
        contact = await s.get(Contact, victim["contact"])
        notes = await s.scalar(select(func.count()).select_from(ConversationNote))
    assert contact.name is None and notes == 0
    assert await rt.redis.queued_jobs() == []


async def test_lists_only_show_the_callers_own_objects(client, rt, world, other):
    await seed_conversation(rt, world)
    data = ok(await gql(client, """{ viewer { id } channels { id } agents { id } apiKeys { id }
        conversations { edges { node { id } } } leads { edges { node { id } } }
        creditLedger { edges { node { id } } } }""", key=other.api_key))
    assert data["viewer"]["id"] == str(other.tenant_id)
    assert [c["id"] for c in data["channels"]] == [str(other.channel_id)]
    assert [a["id"] for a in data["agents"]] == [str(other.agent_id)]
    assert len(data["apiKeys"]) == 1
    assert data["conversations"]["edges"] == [] and data["leads"]["edges"] == []
    assert len(data["creditLedger"]["edges"]) == 1
