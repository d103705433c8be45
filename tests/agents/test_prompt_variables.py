"""Dashboard prompts: every model call carries `prompt: {id, version, variables}` with the
agent's variables and the platform's own; `model` only when the agent names one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.sandbox.openai_payloads import PROMPT_MODEL
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows as rows
from tests.helpers import wait_for
from tests.meta import post_text

CREATE = """mutation($input: CreateAgentInput!) {
  createAgent(input: $input) { id model promptId promptVersion timeZone
                               promptVariables { name value } } }"""
ZONE = "Pacific/Kiritimati"  # UTC+14: a local date that differs from the server's for hours


def _local_dates(zone: str) -> set[str]:
    return {datetime.now(UTC).astimezone(ZoneInfo(zone)).date().isoformat()}


async def _sent(db: str, n: int) -> list:
    found = await rows(db, "SELECT id, meta FROM messages WHERE direction='outbound' "
                           "AND status='sent' ORDER BY seq")
    return found if len(found) >= n else []


async def test_every_model_call_carries_the_prompt_and_its_variables(
    client, runtime, worker, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, with_agent=False, name="Acme")
    agent = ok(await gql(client, CREATE, {"input": {
        "channelId": str(world.channel_id), "name": "Concierge", "promptId": "pmpt_abc",
        "promptVersion": "4", "timeZone": ZONE,
        "promptVariables": [{"name": "hours", "value": "9-18"},
                            {"name": "city", "value": "Monterrey"}],
    }}, key=world.api_key))["createAgent"]
    assert agent["model"] is None and agent["timeZone"] == ZONE
    assert agent["promptVariables"] == [{"name": "city", "value": "Monterrey"},
                                        {"name": "hours", "value": "9-18"}]

    dates = _local_dates(ZONE)
    await post_text(client, world.account_id, "Hola")
    await wait_for(lambda: _sent(db, 1), timeout=8)
    await post_text(client, world.account_id, "¿Abren mañana?")  # the second turn chains onto the first
    replies = await wait_for(lambda: _sent(db, 2), timeout=8)
    dates |= _local_dates(ZONE)
    # The prompt's own model answered (the fake names it when the request names none).
    assert {json.loads(r["meta"])["model"] for r in replies} == {PROMPT_MODEL}

    calls = [r["body"] for r in await model.requests() if r["status"] == 200]
    assert len(calls) == 2 and "previous_response_id" in calls[1]
    for body in calls:
        # No model of the agent's own: the prompt's model answers.
        assert "model" not in body and "instructions" not in body
        variables = body["prompt"].pop("variables")
        assert body["prompt"] == {"id": "pmpt_abc", "version": "4"}
        local_date = variables.pop("local_date")
        assert local_date in dates
        assert variables == {"hours": "9-18", "city": "Monterrey", "customer_name": "Ana",
                             "channel_kind": "whatsapp", "business_name": "Acme whatsapp"}


async def test_an_agent_model_is_sent_and_overrides_the_prompt(
    client, runtime, worker, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, with_agent=False)
    ok(await gql(client, CREATE, {"input": {
        "channelId": str(world.channel_id), "name": "Pinned", "promptId": "pmpt_abc",
        "model": "gpt-4.1",
    }}, key=world.api_key))
    await post_text(client, world.account_id, "Hola")
    await wait_for(lambda: _sent(db, 1), timeout=8)
    [call] = [r["body"] for r in await model.requests()]
    assert call["model"] == "gpt-4.1"
    assert call["prompt"]["id"] == "pmpt_abc" and "version" not in call["prompt"]
    assert set(call["prompt"]["variables"]) == {
        "customer_name", "channel_kind", "business_name", "local_date"}


async def test_agent_prompt_input_is_validated(client, app):
    world = await make_world(app.state.runtime, with_agent=False)
    base = {"channelId": str(world.channel_id), "name": "A", "promptId": "pmpt_1"}
    many = [{"name": f"v{i}", "value": "x"} for i in range(21)]
    cases = [
        ({"promptId": None}, "model"),  # neither a model nor a prompt
        ({"promptVariables": many}, "promptVariables"),
        ({"promptVariables": [{"name": "bio", "value": "x" * 1001}]}, "promptVariables"),
        ({"promptVariables": [{"name": "customer_name", "value": "x"}]}, "promptVariables"),
        ({"promptVariables": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]},
         "promptVariables"),
        ({"promptVariables": [{"name": "9lives", "value": "x"}]}, "promptVariables"),
        ({"promptId": None, "model": "gpt-4.1", "promptVariables": [{"name": "a", "value": "1"}]},
         "promptVariables"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
    ]
    for change, field in cases:
        body = await gql(client, CREATE, {"input": {**base, **change}}, key=world.api_key)
        assert codes(body) == ["VALIDATION"], (change, body)
        assert body["errors"][0]["message"].startswith(field), (change, body)
    assert ok(await gql(client, "{ agents { id } }", key=world.api_key))["agents"] == []
    # At the bounds: accepted.
    made = ok(await gql(client, CREATE, {"input": {**base, "promptVariables": [
        {"name": f"v{i}", "value": "x" * 1000} for i in range(20)]}}, key=world.api_key))
    assert len(made["createAgent"]["promptVariables"]) == 20
