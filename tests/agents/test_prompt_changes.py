"""A new prompt is a new agent: updateAgent refuses to change what the model is told (the
conversations were built on it), createAgent replaces the agent and archives; deleteAgent
archives the channel's conversations."""

from __future__ import annotations

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, seed_conversation
from tests.helpers import db_rows as rows
from tests.helpers import wait_for
from tests.meta import signed, wa_message, wa_webhook

UPDATE = """mutation($id: ID!, $input: UpdateAgentInput!) {
  updateAgent(id: $id, input: $input) { id name model instructions promptId promptVersion
                                        creditsPerReply timeZone } }"""


async def _agent(db: str) -> list:
    return await rows(db, "SELECT id, name, model, instructions, prompt_id, prompt_version, "
                          "credits_per_reply, time_zone, deleted_at FROM agents")


async def test_update_refuses_a_new_prompt_and_keeps_name_and_price_editable(
    client, app, test_env
):
    db = test_env["DATABASE_URL"]
    rt = app.state.runtime
    world = await make_world(rt)
    conv = await seed_conversation(rt, world)
    before = await _agent(db)
    agent_id = str(world.agent_id)

    for change, field in (({"promptId": "pmpt_new"}, "promptId"),
                          ({"promptVersion": "7"}, "promptVersion"),
                          ({"model": "gpt-4.1"}, "model"),
                          ({"instructions": "Be verbose."}, "instructions"),
                          ({"name": "Renamed", "model": "gpt-4o"}, "model")):
        body = await gql(client, UPDATE, {"id": agent_id, "input": change}, key=world.api_key)
        assert codes(body) == ["AGENT_PROMPT_IMMUTABLE"], (change, body)
        assert body["data"] is None
        message = body["errors"][0]["message"]
        assert message.startswith(f"{field} cannot change in place") and "createAgent" in message
    # Nothing moved: not the agent (not even the name sent with a refused change), not the
    # conversation.
    assert await _agent(db) == before
    [c] = await rows(db, "SELECT archived_at FROM conversations WHERE id=$1", conv)
    assert c["archived_at"] is None

    # The current values sent again are no change; name, price and time zone change in place.
    updated = ok(await gql(client, UPDATE, {"id": agent_id, "input": {
        "model": "gpt-4.1-mini", "instructions": "Be brief.", "name": "Front desk",
        "creditsPerReply": 4, "timeZone": "America/Mexico_City",
    }}, key=world.api_key))["updateAgent"]
    assert updated == {"id": agent_id, "name": "Front desk", "model": "gpt-4.1-mini",
                       "instructions": "Be brief.", "promptId": None, "promptVersion": None,
                       "creditsPerReply": 4, "timeZone": "America/Mexico_City"}
    [c] = await rows(db, "SELECT archived_at FROM conversations WHERE id=$1", conv)
    assert c["archived_at"] is None
    body = await gql(client, UPDATE, {"id": agent_id, "input": {"timeZone": "Mars/Olympus"}},
                     key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "timeZone" in body["errors"][0]["message"]

    # The way to a new prompt: createAgent on the channel retires this agent and archives.
    created = ok(await gql(client, """mutation($input: CreateAgentInput!) {
      createAgent(input: $input) { id promptId model } }""", {"input": {
        "channelId": str(world.channel_id), "name": "Front desk v2", "promptId": "pmpt_new",
    }}, key=world.api_key))["createAgent"]
    assert created["promptId"] == "pmpt_new" and created["model"] is None
    [c] = await rows(db, "SELECT archived_at FROM conversations WHERE id=$1", conv)
    [archive] = await rows(db, "SELECT reason, agent_id FROM conversation_archives")
    assert c["archived_at"] is not None
    assert (archive["reason"], archive["agent_id"]) == ("agent_replaced", world.agent_id)


async def test_deleting_an_agent_archives_its_conversations(
    client, app, worker, model, test_env
):
    db = test_env["DATABASE_URL"]
    rt = app.state.runtime
    world = await make_world(rt)
    other = await make_world(rt, name="Other")
    first = await seed_conversation(rt, world, texts=("hola", "¿precio?"))
    second = await seed_conversation(rt, world, name="Luis")
    untouched = await seed_conversation(rt, other)

    # Another tenant's agent is not found, and deleting it archives nothing.
    body = await gql(client, "mutation($id: ID!) { deleteAgent(id: $id) }",
                     {"id": str(other.agent_id)}, key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]
    assert await rows(db, "SELECT 1 FROM conversation_archives") == []

    assert ok(await gql(client, "mutation($id: ID!) { deleteAgent(id: $id) }",
                        {"id": str(world.agent_id)}, key=world.api_key))["deleteAgent"] \
        == str(world.agent_id)
    archives = await rows(db, "SELECT conversation_id, reason, agent_id, message_count "
                              "FROM conversation_archives ORDER BY message_count DESC")
    assert [(a["conversation_id"], a["reason"], a["agent_id"], a["message_count"])
            for a in archives] == [(first, "agent_deleted", world.agent_id, 2),
                                   (second, "agent_deleted", world.agent_id, 1)]
    listed = ok(await gql(client, "{ conversations(first: 10) { edges { node { id archived } } } }",
                          key=world.api_key))["conversations"]["edges"]
    assert {(e["node"]["id"], e["node"]["archived"]) for e in listed} == {
        (str(first), True), (str(second), True)}
    [kept] = await rows(db, "SELECT archived_at FROM conversations WHERE id=$1", untouched)
    assert kept["archived_at"] is None
    [gone] = await rows(db, "SELECT deleted_at FROM agents WHERE id=$1", world.agent_id)
    assert gone["deleted_at"] is not None

    # The channel has no agent now: a customer's message is kept, in a new conversation, and
    # skipped without a model call or a charge.
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("¿hola?")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    [skipped] = await wait_for(lambda: rows(
        db, "SELECT conversation_id, status_reason FROM messages WHERE text='¿hola?' "
            "AND status='skipped'"))
    assert skipped["status_reason"] == "no_agent"
    assert skipped["conversation_id"] not in (first, second)
    assert await model.requests() == []
