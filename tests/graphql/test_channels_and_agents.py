"""channels, channel, createChannel, updateChannel, deleteChannel; agents, agent, createAgent,
updateAgent, deleteAgent."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Channel
from tests.graphql.helpers import codes, gql, ok, seed_conversation

CHANNEL_FIELDS = "id kind providerAccountId displayName status allowedOrigins agent { id name }"
CREATE_CHANNEL = f"""mutation($input: CreateChannelInput!) {{
  createChannel(input: $input) {{ {CHANNEL_FIELDS} }}
}}"""


async def test_create_list_update_delete_channel_never_returns_the_token(client, rt, world, graph):
    await graph.own("whatsapp", "1098765", "EAAsecret-token", name="Acme Sales")
    made = ok(await gql(client, CREATE_CHANNEL, {"input": {
        "kind": "WHATSAPP", "providerAccountId": "1098765", "accessToken": "EAAsecret-token",
        "displayName": "Sales line",
    }}, key=world.api_key))["createChannel"]
    assert made["kind"] == "WHATSAPP" and made["status"] == "ACTIVE" and made["agent"] is None
    async with rt.sessions() as s:
        row = await s.scalar(select(Channel).where(Channel.provider_account_id == "1098765"))
    assert row is not None and b"EAAsecret-token" not in (row.access_token_encrypted or b"")

    listed = ok(await gql(client, f"{{ channels {{ {CHANNEL_FIELDS} }} }}", key=world.api_key))
    assert [c["displayName"] for c in listed["channels"]] == ["Acme whatsapp", "Sales line"]
    assert listed["channels"][0]["agent"]["name"] == "Sales"
    assert "EAAsecret-token" not in str(listed) and "EAAtesttoken" not in str(listed)

    updated = ok(await gql(
        client, """mutation($id: ID!, $input: UpdateChannelInput!) {
          updateChannel(id: $id, input: $input) { displayName status } }""",
        {"id": made["id"], "input": {"displayName": "Renamed", "status": "DISABLED"}}, key=world.api_key,
    ))["updateChannel"]
    assert updated == {"displayName": "Renamed", "status": "DISABLED"}

    one = ok(await gql(client, "query($id: ID!) { channel(id: $id) { displayName } }",
                       {"id": made["id"]}, key=world.api_key))
    assert one["channel"]["displayName"] == "Renamed"

    deleted = ok(await gql(client, "mutation($id: ID!) { deleteChannel(id: $id) }",
                           {"id": made["id"]}, key=world.api_key))
    assert deleted["deleteChannel"] == made["id"]
    body = await gql(client, "query($id: ID!) { channel(id: $id) { id } }", {"id": made["id"]},
                     key=world.api_key)
    assert codes(body) == ["NOT_FOUND"] and body["data"] == {"channel": None}


async def test_channel_input_is_validated(client, world, graph):
    body = await gql(client, CREATE_CHANNEL, {"input": {"kind": "WHATSAPP", "providerAccountId": "1"}},
                     key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "accessToken" in body["errors"][0]["message"]
    # The number's owner connecting it again (from another tenant too) is a conflict.
    await graph.own("whatsapp", world.account_id, "x")
    body = await gql(client, CREATE_CHANNEL, {"input": {
        "kind": "WHATSAPP", "providerAccountId": world.account_id, "accessToken": "x"}},
        key=world.api_key)
    assert codes(body) == ["CONFLICT"]
    body = await gql(client, CREATE_CHANNEL, {"input": {
        "kind": "WHATSAPP", "providerAccountId": "77", "accessToken": "x",
        "allowedOrigins": ["https://a.example"]}}, key=world.api_key)
    assert codes(body) == ["VALIDATION"]
    body = await gql(client, CREATE_CHANNEL, {"input": {
        "kind": "WEBCHAT", "allowedOrigins": ["javascript:alert(1)"]}}, key=world.api_key)
    assert codes(body) == ["VALIDATION"]


async def test_webchat_channel_gets_a_public_id_and_normalised_origins(client, world):
    made = ok(await gql(client, CREATE_CHANNEL, {"input": {
        "kind": "WEBCHAT", "displayName": "Site", "allowedOrigins": [
            "https://Shop.Example.com/", "http://localhost:8080", "https://shop.example.com"],
    }}, key=world.api_key))["createChannel"]
    assert made["providerAccountId"].startswith("wc_")
    assert made["allowedOrigins"] == ["https://shop.example.com", "http://localhost:8080"]
    updated = ok(await gql(
        client, """mutation($id: ID!) {
          updateChannel(id: $id, input: {allowedOrigins: ["https://b.example"]}) { allowedOrigins } }""",
        {"id": made["id"]}, key=world.api_key))["updateChannel"]
    assert updated["allowedOrigins"] == ["https://b.example"]


AGENT_FIELDS = "id name model instructions promptId promptVersion creditsPerReply channel { id }"


async def test_agent_lifecycle_and_replacement_archives_conversations(client, rt, world):
    conv = await seed_conversation(rt, world)
    agents = ok(await gql(client, f"{{ agents {{ {AGENT_FIELDS} }} }}", key=world.api_key))["agents"]
    assert [a["id"] for a in agents] == [str(world.agent_id)]
    assert agents[0]["channel"]["id"] == str(world.channel_id)

    created = ok(await gql(client, f"""mutation($input: CreateAgentInput!) {{
      createAgent(input: $input) {{ {AGENT_FIELDS} }} }}""", {"input": {
        "channelId": str(world.channel_id), "name": "Support", "model": "gpt-4.1",
        "instructions": "Help.", "promptId": "pmpt_1", "promptVersion": "3", "creditsPerReply": 2,
    }}, key=world.api_key))["createAgent"]
    assert created["promptId"] == "pmpt_1" and created["creditsPerReply"] == 2
    conversation = ok(await gql(client, "query($id: ID!) { conversation(id: $id) { archived } }",
                                {"id": str(conv)}, key=world.api_key))["conversation"]
    assert conversation == {"archived": True}
    gone = await gql(client, "query($id: ID!) { agent(id: $id) { id } }", {"id": str(world.agent_id)},
                     key=world.api_key)
    assert codes(gone) == ["NOT_FOUND"]

    updated = ok(await gql(client, """mutation($id: ID!) {
      updateAgent(id: $id, input: {name: "Support 2", promptId: "pmpt_1", creditsPerReply: 3}) {
        name promptId creditsPerReply } }""", {"id": created["id"]}, key=world.api_key))["updateAgent"]
    assert updated == {"name": "Support 2", "promptId": "pmpt_1", "creditsPerReply": 3}
    body = await gql(client, """mutation($id: ID!) {
        updateAgent(id: $id, input: {creditsPerReply: -1}) { id } }""",
                     {"id": created["id"]}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"]

    one = ok(await gql(client, "query($id: ID!) { agent(id: $id) { name } }", {"id": created["id"]},
                       key=world.api_key))
    assert one["agent"]["name"] == "Support 2"
    assert ok(await gql(client, "mutation($id: ID!) { deleteAgent(id: $id) }", {"id": created["id"]},
                        key=world.api_key))["deleteAgent"] == created["id"]
    assert ok(await gql(client, "{ agents { id } }", key=world.api_key))["agents"] == []
    channel = ok(await gql(client, "query($id: ID!) { channel(id: $id) { agent { id } } }",
                           {"id": str(world.channel_id)}, key=world.api_key))["channel"]
    assert channel["agent"] is None
