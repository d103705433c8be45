"""usage(from, to, groupBy): the figures equal the ledger and the messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows, wait_for
from tests.meta import post_text

USAGE = """query($from: DateTime!, $to: DateTime, $g: UsageGroupBy!) {
  usage(from: $from, to: $to, groupBy: $g) {
    day channelId agentId inboundMessages aiReplies operatorMessages templateSends failedSends
    inputTokens outputTokens creditsDebited } }"""


async def test_usage_equals_the_ledger_and_the_messages(client, runtime, worker, graph, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=10)
    other = await make_world(runtime, name="Other")
    for n, (text, sender) in enumerate([("hola", "5215500000011"), ("precio?", "5215500000011"),
                                        ("buenas", "5215500000012")], start=1):
        await post_text(client, world.account_id, text, sender)
        await wait_for(lambda n=n: _count(db, "SELECT count(*) AS n FROM messages "
                                              "WHERE sender_role = 'ai' AND status = 'sent'", n),
                       timeout=15)
    [conv] = await db_rows(db, "SELECT conversation_id AS id FROM messages WHERE text = 'buenas'")
    ok(await gql(client, """mutation($id: ID!) { sendOperatorMessage(conversationId: $id,
                 text: "Le escribe Ana") { id } }""", {"id": str(conv["id"])}, key=world.api_key))

    now = datetime.now(UTC)
    span = {"from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat()}
    [tokens] = await db_rows(db, """SELECT sum((meta->'usage'->>'input_tokens')::int) AS i,
                                           sum((meta->'usage'->>'output_tokens')::int) AS o
                                    FROM messages WHERE sender_role = 'ai'""")
    [tenant] = await db_rows(db, "SELECT credit_balance FROM tenants WHERE id = $1",
                             world.tenant_id)
    expected = {"inboundMessages": 3, "aiReplies": 3, "operatorMessages": 1, "templateSends": 0,
                "failedSends": 0, "inputTokens": tokens["i"], "outputTokens": tokens["o"],
                "creditsDebited": 10 - tenant["credit_balance"]}
    assert expected["creditsDebited"] == 3 and tokens["i"] > 0

    [day] = ok(await gql(client, USAGE, {**span, "g": "DAY"}, key=world.api_key))["usage"]
    assert day == {"day": now.date().isoformat(), "channelId": None, "agentId": None, **expected}
    [by_channel] = ok(await gql(client, USAGE, {**span, "g": "CHANNEL"},
                                key=world.api_key))["usage"]
    assert by_channel["channelId"] == str(world.channel_id)
    assert {k: by_channel[k] for k in expected} == expected
    [by_agent] = ok(await gql(client, USAGE, {**span, "g": "AGENT"}, key=world.api_key))["usage"]
    assert by_agent["agentId"] == str(world.agent_id)

    # Another tenant sees its own (empty) usage; a period in the past is empty.
    assert ok(await gql(client, USAGE, {**span, "g": "DAY"}, key=other.api_key))["usage"] == []
    past = {"from": (now - timedelta(days=30)).isoformat(),
            "to": (now - timedelta(days=2)).isoformat()}
    assert ok(await gql(client, USAGE, {**past, "g": "DAY"}, key=world.api_key))["usage"] == []
    backwards = {"from": span["to"], "to": span["from"], "g": "DAY"}
    assert codes(await gql(client, USAGE, backwards, key=world.api_key)) == ["VALIDATION"]


async def _count(db: str, sql: str, n: int) -> bool:
    [row] = await db_rows(db, sql)
    return int(row["n"]) >= n
