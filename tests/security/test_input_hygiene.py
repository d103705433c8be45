"""A NUL character in any GraphQL string is BAD_USER_INPUT, and no log line carries statement
parameters or the text people wrote."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.logs import TextFormatter
from tests.graphql.helpers import codes, gql, seed_conversation

SECRET = "my card is 4111-1111-1111-1111"
NUL_TEXT = SECRET + "\x00"


def operations(world, conversation_id) -> list[tuple[str, str, dict, str]]:
    """(document, key, variables, the argument the error must name)."""
    tenant, admin = world.api_key, "test-admin-key-0000"
    return [
        ("query($s: String) { conversations(filter: {search: $s}) { edges { cursor } } }",
         tenant, {"s": NUL_TEXT}, "$s"),
        ("mutation($n: String!) { createApiKey(name: $n) { key } }", tenant, {"n": NUL_TEXT}, "$n"),
        ("mutation($c: ID!, $t: String!) { sendOperatorMessage(conversationId: $c, text: $t) { id } }",
         tenant, {"c": str(conversation_id), "t": NUL_TEXT}, "$t"),
        ("mutation($id: ID!, $i: UpdateAgentInput!) { updateAgent(id: $id, input: $i) { id } }",
         tenant, {"id": str(world.agent_id), "i": {"instructions": NUL_TEXT}}, "$i.instructions"),
        ("mutation($id: ID!, $i: UpdateChannelInput!) { updateChannel(id: $id, input: $i) { id } }",
         tenant, {"id": str(world.channel_id), "i": {"displayName": NUL_TEXT}}, "$i.displayName"),
        ("mutation($n: String!) { createTenant(name: $n) { apiKey } }", admin, {"n": NUL_TEXT}, "$n"),
        ("mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }", tenant,
         {"i": {"kind": "WEBCHAT", "allowedOrigins": ["https://a.example", NUL_TEXT]}},
         "$i.allowedOrigins[1]"),
        # Written into the document itself, as an escape.
        ('mutation { createApiKey(name: "' + SECRET + '\\u0000") { key } }', tenant, {}, "name"),
        ('query { conversations(filter: {search: "x\\u0000"}) { edges { cursor } } }', tenant, {},
         "filter.search"),
    ]


async def test_a_nul_character_is_bad_user_input_and_leaves_no_trace_in_the_log(
    client, rt, world, caplog,
):
    conversation_id = await seed_conversation(rt, world)
    caplog.set_level(logging.DEBUG)
    for document, key, variables, argument in operations(world, conversation_id):
        body = await gql(client, document, variables, key=key)
        assert codes(body) == ["BAD_USER_INPUT"], (document, body)
        error = body["errors"][0]
        assert error["message"].startswith(f"{argument}: ") and "NUL" in error["message"]
        assert error["extensions"]["field"] == argument
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert SECRET not in caplog.text


async def test_a_failed_statement_never_logs_its_parameters(rt, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DBAPIError) as failure:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:words AS jsonb)"), {"words": SECRET})
    logging.getLogger("tests").error("statement failed", exc_info=failure.value)
    line = TextFormatter().format(caplog.records[-1])
    assert "SELECT CAST" in line and SECRET not in line
    assert SECRET not in str(failure.value)
