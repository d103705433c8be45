"""A page of 50 conversations with each one's channel, contact and last message costs a fixed
handful of SQL statements, not one per conversation; so do a leads page and a search."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, text

from app.db import transaction
from app.models import Lead
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
    """Every statement sent while counting: those through SQLAlchemy (its cursor event) and
    the hand-written ones sent on a pooled connection's asyncpg connection (its query logger,
    which SQLAlchemy's own prepared statements do not reach). Not counted, as the cursor event
    never counted them: transaction control, and asyncpg's one-time look-up of a type's codec
    on a connection that has not met the type before."""
    statements: list[str] = []
    watched: list = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    def logged(record) -> None:
        query = record.query.strip()
        internal = "typeinfo_tree" in query or "set_config('jit'" in query
        if not internal and query.rstrip(";").upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            statements.append(query)

    def checkout(dbapi_connection, record, proxy) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(logged)
        watched.append(driver)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "checkout", checkout)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "checkout", checkout)
        for driver in watched:
            driver.remove_query_logger(logged)


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


LEADS = """{ leads(first: 50) { edges { node { name urgency
  conversation { id mode contact { profileName } lastMessage { text } channel { kind } }
} } } }"""


async def test_a_leads_page_with_conversations_takes_a_fixed_number_of_statements(
    client, rt, world
):
    elsewhere = await make_world(rt, name="Elsewhere")
    other = await seed_conversation(rt, elsewhere, name="Not ours")
    now = datetime.now(UTC)
    convs = []
    for i in range(50):
        conv = await seed_conversation(rt, world, name=f"Customer {i}", texts=(f"hi {i}",))
        convs.append(conv)
    async with transaction(rt.sessions) as s:
        for i, conv in enumerate(convs):
            s.add(Lead(id=uuid.uuid4(), tenant_id=world.tenant_id, conversation_id=conv,
                       name=f"Lead {i}", urgency=1 + i % 3, budget=1, fit=1, engagement=1,
                       from_seq=1, to_seq=1, model="gpt-4.1-mini",
                       created_at=now - timedelta(seconds=i)))
        s.add(Lead(id=uuid.uuid4(), tenant_id=elsewhere.tenant_id, conversation_id=other,
                   name="Theirs", urgency=1, budget=1, fit=1, engagement=1, from_seq=1,
                   to_seq=1, model="gpt-4.1-mini", created_at=now + timedelta(seconds=5)))

    with counting(rt.engine) as statements:
        data = ok(await gql(client, LEADS, key=world.api_key))
    nodes = [e["node"] for e in data["leads"]["edges"]]
    # Newest first, only this tenant's, each with its own conversation's rows.
    assert [n["name"] for n in nodes] == [f"Lead {i}" for i in range(50)]
    assert [n["conversation"]["id"] for n in nodes] == [str(c) for c in convs]
    assert [n["conversation"]["contact"]["profileName"] for n in nodes] == [
        f"Customer {i}" for i in range(50)
    ]
    assert [n["conversation"]["lastMessage"]["text"] for n in nodes] == [
        f"hi {i}" for i in range(50)
    ]
    assert {n["conversation"]["channel"]["kind"] for n in nodes} == {"WHATSAPP"}
    # API key, the leads, their conversations, then channels, contacts and last messages.
    assert len(statements) <= 6, "\n\n".join(statements)


SEARCH = """query($q: String!) { conversations(first: 50, filter: {search: $q}) { edges { node {
  id contact { profileName externalId } lastMessage { text } channel { id } } } } }"""


async def test_a_search_takes_a_fixed_number_of_statements_and_finds_only_this_tenants(
    client, rt, world
):
    elsewhere = await make_world(rt, name="Elsewhere")
    await seed_conversation(rt, elsewhere, name="Rosa Theirs", external_id="5215599990000")
    found = set()
    for i in range(30):
        name = f"Rosa {i}" if i % 3 == 0 else f"Pedro {i}"
        conv = await seed_conversation(rt, world, name=name, external_id=f"52155{i:08d}")
        if i % 3 == 0:
            found.add(str(conv))

    with counting(rt.engine) as statements:
        data = ok(await gql(client, SEARCH, {"q": "rosa"}, key=world.api_key))
    nodes = [e["node"] for e in data["conversations"]["edges"]]
    assert {n["id"] for n in nodes} == found
    assert all(n["contact"]["profileName"].startswith("Rosa ") for n in nodes)
    assert all(n["lastMessage"]["text"] == "hello" for n in nodes)
    # API key, the page (the search inside it), channels, contacts, last messages.
    assert len(statements) <= 5, "\n\n".join(statements)

    by_number = ok(await gql(client, SEARCH, {"q": "00000027"}, key=world.api_key))
    assert [e["node"]["contact"]["externalId"] for e in by_number["conversations"]["edges"]] == [
        "5215500000027"
    ]


LABELLED_PAGE = """query Labelled { conversations(first: 50) { edges { node {
  id labels { name color } contact { profileName } } } } }"""


async def test_the_labels_of_a_page_are_one_statement(client, rt, world):
    elsewhere = await make_world(rt, name="Elsewhere")
    async with transaction(rt.sessions) as s:
        await s.execute(text(
            "INSERT INTO labels (id, tenant_id, name, color) VALUES "
            "(:a, :t, 'vip', '#facc15'), (:b, :t, 'billing', '#64748b'), "
            "(:c, :o, 'theirs', '#000000')"
        ), {"a": (vip := uuid.uuid4()), "b": (billing := uuid.uuid4()), "c": uuid.uuid4(),
            "t": world.tenant_id, "o": elsewhere.tenant_id})
    convs = [await seed_conversation(rt, world, name=f"Customer {i}") for i in range(50)]
    async with transaction(rt.sessions) as s:
        for i, conv in enumerate(convs):
            for label in ([vip] if i % 2 else []) + ([billing] if i % 3 == 0 else []):
                await s.execute(text(
                    "INSERT INTO conversation_labels (conversation_id, label_id, tenant_id) "
                    "VALUES (:c, :l, :t)"), {"c": conv, "l": label, "t": world.tenant_id})

    with counting(rt.engine) as statements:
        data = ok(await gql(client, LABELLED_PAGE, key=world.api_key))
    labels = {e["node"]["id"]: [lb["name"] for lb in e["node"]["labels"]]
              for e in data["conversations"]["edges"]}
    assert labels == {
        str(c): (["billing"] if i % 3 == 0 else []) + (["vip"] if i % 2 else [])
        for i, c in enumerate(convs)
    }
    # API key, the page, contacts, and one statement for every conversation's labels.
    assert len(statements) <= 4, "\n\n".join(statements)
INBOX = """query($f: ConversationFilter, $o: ConversationOrder) {
  conversations(first: 50, filter: $f, orderBy: $o) { edges { node {
  id mode status snoozedUntil unreadCount lastReadSeq assignee { id name }
  channel { id kind } contact { profileName } lastMessage { text }
} } } }"""


async def test_a_page_with_the_inbox_fields_takes_a_fixed_number_of_statements(
    client, rt, world
):
    ana = ok(await gql(client, """mutation { createOperator(name: "Ana", email: "ana@x.org") {
        operator { id } key } }""", key=world.api_key))["createOperator"]
    luis = ok(await gql(client, """mutation { createOperator(name: "Luis", email: "l@x.org") {
        operator { id } key } }""", key=world.api_key))["createOperator"]
    convs = [await seed_conversation(rt, world, name=f"Customer {i}") for i in range(50)]
    for i, conv in enumerate(convs[:20]):
        who = ana if i % 2 else luis
        ok(await gql(client, "mutation($c: ID!, $o: ID) { assignConversation(id: $c, "
                     "operatorId: $o) { id } }", {"c": str(conv), "o": who["operator"]["id"]},
                     key=world.api_key))
    for conv in convs[:10]:
        ok(await gql(client, "mutation($c: ID!) { markConversationRead(id: $c) { id } }",
                     {"c": str(conv)}, key=ana["key"]))

    for variables in ({}, {"f": {"status": ["OPEN"], "needsHuman": False},
                           "o": "UNREAD_FIRST"}):
        with counting(rt.engine) as statements:
            data = ok(await gql(client, INBOX, variables, key=ana["key"]))
        nodes = [e["node"] for e in data["conversations"]["edges"]]
        assert len(nodes) == 50
        assert sum(1 for n in nodes if n["unreadCount"] == 0) == 10
        assert sum(1 for n in nodes if n["unreadCount"] == 1) == 40
        assert {n["assignee"]["name"] for n in nodes if n["assignee"]} == {"Ana", "Luis"}
        assert sum(1 for n in nodes if n["assignee"]) == 20
        assert {n["status"] for n in nodes} == {"OPEN"}
        if variables:
            assert [n["unreadCount"] for n in nodes] == [1] * 40 + [0] * 10
        # API key, the page, channels, contacts, last messages, assignees, read markers.
        assert len(statements) <= 7, "\n\n".join(statements)
