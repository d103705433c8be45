"""Metering stays on: a tenant cannot make replies free, pick an unpriced model, or store
unbounded text."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.agents.service import create_agent
from app.config import DEFAULT_AGENT_MODELS, Settings
from app.db import transaction
from app.errors import BadUserInput
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows

CREATE_AGENT = """mutation($input: CreateAgentInput!) {
  createAgent(input: $input) { id model creditsPerReply } }"""
UPDATE_AGENT = """mutation($id: ID!, $input: UpdateAgentInput!) {
  updateAgent(id: $id, input: $input) { id } }"""


async def _agent(test_env, world):
    [row] = await db_rows(test_env["DATABASE_URL"],
                          "SELECT model, credits_per_reply, length(instructions) AS n FROM agents "
                          "WHERE id = $1", world.agent_id)
    return dict(row)


@pytest.mark.parametrize(("change", "field"), [
    ({"creditsPerReply": 0}, "creditsPerReply"),
    ({"creditsPerReply": -5}, "creditsPerReply"),
    ({"model": "gpt-4-32k-my-own-finetune"}, "model"),
    ({"model": ""}, "model"),
    ({"instructions": "x" * 20_001}, "instructions"),
    ({"name": "n" * 201}, "name"),
    ({"promptId": "p" * 201}, "promptId"),
    ({"promptVersion": "v" * 51}, "promptVersion"),
])
async def test_an_agent_cannot_be_set_outside_the_platforms_bounds(
    client, world, test_env, change, field,
):
    before = await _agent(test_env, world)
    body = await gql(client, UPDATE_AGENT, {"id": str(world.agent_id), "input": change},
                     key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith(f"{field} must be")
    assert await _agent(test_env, world) == before

    body = await gql(client, CREATE_AGENT, {"input": {
        "channelId": str(world.channel_id), "name": "Free", "model": "gpt-4.1-mini", **change}},
        key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and field in body["errors"][0]["message"]
    assert await _agent(test_env, world) == before  # the live agent was not replaced


async def test_the_allow_list_and_the_minimum_are_the_operators(client, world, rt, monkeypatch):
    assert {"gpt-4.1-mini", "gpt-5", "o4-mini"} <= set(rt.settings.allowed_models)
    made = ok(await gql(client, CREATE_AGENT, {"input": {
        "channelId": str(world.channel_id), "name": "Sales", "model": "gpt-5-mini"}},
        key=world.api_key))["createAgent"]
    assert made["creditsPerReply"] == 1  # the minimum, when not given

    monkeypatch.setattr(rt.settings, "agent_models", "house-model")
    monkeypatch.setattr(rt.settings, "min_credits_per_reply", 5)
    body = await gql(client, UPDATE_AGENT, {"id": made["id"], "input": {"model": "gpt-5-mini"}},
                     key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and "house-model" in body["errors"][0]["message"]
    body = await gql(client, UPDATE_AGENT, {"id": made["id"], "input": {"creditsPerReply": 4}},
                     key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "between 5 and" in body["errors"][0]["message"]
    made = ok(await gql(client, CREATE_AGENT, {"input": {
        "channelId": str(world.channel_id), "name": "House", "model": "house-model"}},
        key=world.api_key))["createAgent"]
    assert made == {"id": made["id"], "model": "house-model", "creditsPerReply": 5}


async def test_every_path_that_creates_an_agent_is_bounded(rt, world, test_env):
    # The services (what the CLI, the demo seed and the GraphQL mutations call) check too.
    with pytest.raises(BadUserInput, match="creditsPerReply"):
        async with transaction(rt.sessions) as s:
            await create_agent(s, rt.settings, world.tenant_id, channel_id=world.channel_id,
                               name="Free", model="gpt-4.1-mini", credits_per_reply=0)
    # And the table itself refuses a free reply, whatever writes it.
    with pytest.raises(IntegrityError):
        async with transaction(rt.sessions) as s:
            await s.execute(text("UPDATE agents SET credits_per_reply = 0 WHERE id = :id"),
                            {"id": world.agent_id})
    assert (await _agent(test_env, world))["credits_per_reply"] == 1


def test_the_model_allow_list_is_a_setting(monkeypatch):
    assert Settings(agent_models=" gpt-4.1 , o4-mini,gpt-4.1,").allowed_models == ("gpt-4.1", "o4-mini")
    assert "gpt-4.1-mini" in DEFAULT_AGENT_MODELS.split(",")
    with pytest.raises(ValueError, match="at least one model"):
        Settings(agent_models=" , ")
    with pytest.raises(ValueError):
        Settings(min_credits_per_reply=0)


LONG = "n" * 201


async def test_free_text_of_tenants_keys_and_channels_is_bounded(client, world):
    for document, variables, key, field in (
        ("mutation($n: String!) { createApiKey(name: $n) { key } }", {"n": LONG}, world.api_key,
         "name"),
        ("mutation($n: String!) { createTenant(name: $n) { apiKey } }", {"n": LONG},
         "test-admin-key-0000", "name"),
        ("mutation($id: ID!, $n: String) { updateChannel(id: $id, input: {displayName: $n}) { id } }",
         {"id": str(world.channel_id), "n": LONG}, world.api_key, "displayName"),
        ("mutation($n: String!) { createChannel(input: {kind: WEBCHAT, displayName: $n}) { id } }",
         {"n": LONG}, world.api_key, "displayName"),
        ("mutation($o: [String!]) { createChannel(input: {kind: WEBCHAT, allowedOrigins: $o}) { id } }",
         {"o": ["https://" + "a" * 400 + ".example"]}, world.api_key, "allowedOrigins"),
        ("mutation($t: ID!, $r: String!) { grantCredits(tenantId: $t, amount: 5, reason: $r) { id } }",
         {"t": str(world.tenant_id), "r": "r" * 501}, "test-admin-key-0000", "reason"),
    ):
        body = await gql(client, document, variables, key=key)
        assert codes(body) == ["BAD_USER_INPUT"], (document, body)
        assert body["errors"][0]["message"].startswith(f"{field}"), body


async def test_the_cli_refuses_overlong_names_with_one_clear_line(runtime, test_env):
    from tests.cli.test_operator_cli import assert_error, mca

    r = await mca("tenant", "create", "--name", LONG, "--json")
    assert_error(r, "name must be at most 200 characters")
    assert await db_rows(test_env["DATABASE_URL"], "SELECT id FROM tenants") == []
    made = json.loads((await mca("tenant", "create", "--name", "Acme", "--json")).out)
    r = await mca("apikey", "create", "--tenant", made["tenant_id"], "--name", LONG)
    assert_error(r, "name must be at most 200 characters")
