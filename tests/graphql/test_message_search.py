"""searchMessages: message texts searched within one tenant, newest first, paged, each hit with
its conversation, in a fixed number of statements whatever the page's size."""

from __future__ import annotations

from tests.factories import make_world
from tests.graphql.helpers import add_outbound, codes, gql, ok, seed_conversation
from tests.graphql.test_n_plus_one import counting

SEARCH = """query($q: String!, $first: Int, $after: String, $channel: ID) {
  searchMessages(text: $q, first: $first, after: $after, channelId: $channel) {
    edges { cursor node {
      message { id text direction conversationId }
      conversation { id contact { profileName } lastMessage { text } channel { kind } }
    } }
    pageInfo { hasNextPage endCursor }
  } }"""


async def _every_page(client, world, term: str) -> list[str]:
    """The hits' texts for `term`, three per page, following the cursor to the end."""
    seen: list[str] = []
    after = None
    while True:
        page = ok(await gql(client, SEARCH, {"q": term, "first": 3, "after": after},
                            key=world.api_key))["searchMessages"]
        seen += [e["node"]["message"]["text"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_a_page_of_hits_takes_a_fixed_number_of_statements_and_only_this_tenants(
    client, rt, world
):
    elsewhere = await make_world(rt, name="Elsewhere")
    await seed_conversation(rt, elsewhere, name="Theirs", texts=("my refund please",))
    expected = []  # texts of the hits, oldest first
    for i in range(30):
        texts = (f"where is my REFUND {i}?",) if i % 2 else (f"hello {i}",)
        conv = await seed_conversation(rt, world, name=f"Customer {i}", texts=texts)
        if i % 2:
            expected.append(texts[0])
        if i % 3 == 0:
            await add_outbound(rt, world.tenant_id, conv, text=f"your refund {i} is on its way")
            expected.append(f"your refund {i} is on its way")

    with counting(rt.engine) as statements:
        data = ok(await gql(client, SEARCH, {"q": " Refund ", "first": 50}, key=world.api_key))
    hits = [e["node"] for e in data["searchMessages"]["edges"]]
    assert [h["message"]["text"] for h in hits] == expected[::-1]
    assert all(h["conversation"]["id"] == h["message"]["conversationId"] for h in hits)
    assert all(h["conversation"]["channel"]["kind"] == "WHATSAPP" for h in hits)
    assert all(h["conversation"]["contact"]["profileName"].startswith("Customer ") for h in hits)
    # A conversation's last message is its newest: the reply where there is one.
    last = {h["conversation"]["id"]: h["conversation"]["lastMessage"]["text"] for h in hits}
    assert all(h["message"]["text"] == last[h["message"]["conversationId"]]
               for h in hits if h["message"]["direction"] == "OUTBOUND")
    # API key, the hits, their conversations, then channels, contacts and last messages.
    assert len(statements) <= 6, "\n\n".join(statements)


async def test_pages_walk_the_hits_newest_first_without_overlap(client, rt, world):
    for i in range(7):
        await seed_conversation(rt, world, name=f"C{i}", texts=(f"invoice {i}", f"other {i}"))
    seen = await _every_page(client, world, "invoice")
    assert seen == [f"invoice {i}" for i in reversed(range(7))]


async def test_terms_are_literal_narrowed_by_channel_and_at_least_three_characters(
    client, rt, world
):
    await seed_conversation(rt, world, texts=("50% off?", "500 units", "a_b_c"))
    found = ok(await gql(client, SEARCH, {"q": "50%"}, key=world.api_key))
    assert [e["node"]["message"]["text"] for e in found["searchMessages"]["edges"]] == ["50% off?"]
    found = ok(await gql(client, SEARCH, {"q": "a_b"}, key=world.api_key))
    assert [e["node"]["message"]["text"] for e in found["searchMessages"]["edges"]] == ["a_b_c"]
    found = ok(await gql(client, SEARCH, {"q": "units", "channel": str(world.channel_id)},
                         key=world.api_key))
    assert len(found["searchMessages"]["edges"]) == 1

    assert codes(await gql(client, SEARCH, {"q": " ab "}, key=world.api_key)) == ["VALIDATION"]
    elsewhere = await make_world(rt, name="Elsewhere")
    body = await gql(client, SEARCH, {"q": "units", "channel": str(elsewhere.channel_id)},
                     key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]


async def test_a_term_of_several_words_is_looked_up_by_its_rarest_word_with_the_same_hits(
    client, rt, world
):
    await seed_conversation(rt, world, name="A", texts=("order 4711 shipped", "order 1234"))
    await seed_conversation(rt, world, name="B", texts=("4711 order", "where is my order"))
    await seed_conversation(rt, world, name="C", texts=("ORDER 4711?", "order order order"))
    with counting(rt.engine) as statements:
        found = ok(await gql(client, SEARCH, {"q": "order 4711"}, key=world.api_key))
    # "4711 order" has both words but not the term: the whole term is checked on every row.
    assert [e["node"]["message"]["text"] for e in found["searchMessages"]["edges"]] == [
        "ORDER 4711?", "order 4711 shipped",
    ]
    # Both words counted in one statement, then the page read through the rarer one.
    probes = [s for s in statements if s.count("SELECT count(*) FROM") == 2]
    narrowed = [s for s in statements if "(text || '') ILIKE $7" in s]
    assert len(probes) == 1 and len(narrowed) == 1, "\n\n".join(statements)

    # A word found nowhere ends the search: no page is read.
    with counting(rt.engine) as statements:
        found = ok(await gql(client, SEARCH, {"q": "order 9999"}, key=world.api_key))
    assert found["searchMessages"]["edges"] == []
    assert not [s for s in statements if "ORDER BY created_at DESC" in s], "\n\n".join(statements)

    # Narrowed by channel like any search.
    found = ok(await gql(client, SEARCH, {"q": "order 4711", "channel": str(world.channel_id)},
                         key=world.api_key))
    assert len(found["searchMessages"]["edges"]) == 2


async def test_pages_of_a_several_word_term_walk_its_hits_without_overlap(client, rt, world):
    for i in range(7):
        await seed_conversation(rt, world, name=f"C{i}", texts=(f"invoice 88 part {i}", "invoice"))
    await seed_conversation(rt, world, name="X", texts=("88 invoice",))
    seen = await _every_page(client, world, "Invoice 88")
    assert seen == [f"invoice 88 part {i}" for i in reversed(range(7))]
