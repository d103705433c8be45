"""A page of 50 conversations with each one's channel, contact and last message costs a fixed
handful of SQL statements, not one per conversation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.factories import make_world
from tests.graphql.helpers import add_outbound, gql, ok, seed_conversation

PAGE = """{ conversations(first: 50) { edges { node {
  id mode replyWindowClosesAt
  channel { id kind displayName }
  contact { profileName externalId }
  lastMessage { text status direction }
  lead { name }
} } } }"""


@contextmanager
def counting(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def test_fifty_conversations_take_six_statements(client, rt, world):
    elsewhere = await make_world(rt, name="Elsewhere")  # another tenant: must not be counted
    for i in range(50):
        conv = await seed_conversation(rt, world, name=f"Customer {i}")
        if i % 2:
            await add_outbound(rt, world.tenant_id, conv, text=f"reply {i}")
    await seed_conversation(rt, elsewhere)

    with counting(rt.engine) as statements:
        data = ok(await gql(client, PAGE, key=world.api_key))
    edges = data["conversations"]["edges"]
    assert len(edges) == 50
    assert {e["node"]["lastMessage"]["text"] for e in edges} >= {"hello", "reply 49"}
    assert all(e["node"]["channel"]["id"] == str(world.channel_id) for e in edges)
    # API key, the page, then one batched query each for channels, contacts, last messages
    # and leads.
    assert len(statements) <= 6, "\n\n".join(statements)
    print(f"\n{len(statements)} SQL statements for a 50-conversation page")


FRAGMENTS = """{ conversations(first: 20) { edges { node { id ...Who ... on Conversation {
  lastMessage { text } } } } } }
fragment Who on Conversation { channel { id } contact { externalId } }"""


async def test_a_page_asking_through_fragments_gets_the_same_rows_in_as_few_statements(
    client, rt, world
):
    convs = [await seed_conversation(rt, world, name=f"Customer {i}") for i in range(20)]
    await add_outbound(rt, world.tenant_id, convs[0], text="the newest word")
    with counting(rt.engine) as statements:
        data = ok(await gql(client, FRAGMENTS, key=world.api_key))
    nodes = [e["node"] for e in data["conversations"]["edges"]]
    assert len(nodes) == 20
    assert all(n["channel"]["id"] == str(world.channel_id) for n in nodes)
    assert len({n["contact"]["externalId"] for n in nodes}) == 20
    texts = {n["id"]: n["lastMessage"]["text"] for n in nodes}
    assert texts[str(convs[0])] == "the newest word"
    assert sum(1 for t in texts.values() if t == "hello") == 19
    # API key, the page, channels, contacts, last messages: the fragments' fields were
    # loaded for the page, not per node.
    assert len(statements) <= 5, "\n\n".join(statements)
