"""conversations, conversation { messages lead ... }, setConversationMode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.db import transaction
from app.models import Lead
from tests.factories import make_world
from tests.graphql.helpers import add_outbound, codes, gql, ok, seed_conversation, set_inbound_at

LIST = """query($first: Int, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id mode archived contact { profileName externalId } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def ids(page: dict) -> list[str]:
    return [e["node"]["id"] for e in page["conversations"]["edges"]]


async def test_conversations_most_recent_first_with_cursor_pages(client, rt, world):
    convs = [await seed_conversation(rt, world, name=f"C{i}") for i in range(5)]
    newest_first = [str(c) for c in reversed(convs)]
    page1 = ok(await gql(client, LIST, {"first": 2}, key=world.api_key))
    assert ids(page1) == newest_first[:2]
    assert page1["conversations"]["pageInfo"]["hasNextPage"] is True
    page2 = ok(await gql(client, LIST, {"first": 2, "after": page1["conversations"]["pageInfo"]["endCursor"]},
                         key=world.api_key))
    assert ids(page2) == newest_first[2:4]
    page3 = ok(await gql(client, LIST, {"first": 2, "after": page2["conversations"]["pageInfo"]["endCursor"]},
                         key=world.api_key))
    assert ids(page3) == newest_first[4:]
    assert page3["conversations"]["pageInfo"]["hasNextPage"] is False

    # New activity moves a conversation to the top.
    await add_outbound(rt, world.tenant_id, convs[0])
    assert ids(ok(await gql(client, LIST, {"first": 1}, key=world.api_key)))[0] == str(convs[0])


async def test_conversation_filters(client, rt, world):
    second = await make_world(rt, name="Acme2")  # another tenant, same names
    await seed_conversation(rt, second, name="Maria Lopez")
    maria = await seed_conversation(rt, world, name="Maria Lopez", external_id="5215500000001")
    juan = await seed_conversation(rt, world, name="Juan", external_id="5215500000002")
    ok(await gql(client, 'mutation($id: ID!) { setConversationMode(id: $id, mode: HUMAN) { mode } }',
                 {"id": str(juan)}, key=world.api_key))

    async def find(f: dict) -> list[str]:
        return ids(ok(await gql(client, LIST, {"filter": f}, key=world.api_key)))

    assert await find({"search": "mar"}) == [str(maria)]
    assert await find({"search": "MARIA"}) == [str(maria)]
    assert await find({"search": "00000002"}) == [str(juan)]
    assert await find({"search": "%"}) == []
    assert await find({"mode": "HUMAN"}) == [str(juan)]
    assert await find({"mode": "AI", "archived": False}) == [str(maria)]
    assert await find({"archived": True}) == []
    assert set(await find({"channelId": str(world.channel_id)})) == {str(maria), str(juan)}
    body = await gql(client, LIST, {"filter": {"channelId": str(second.channel_id)}}, key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]


CONVERSATION = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $id) {
    id mode archived lastActivityAt replyWindowClosesAt
    channel { id kind } contact { profileName }
    lastMessage { seq text }
    lead { name email urgency fromSeq toSeq demoTimezone }
    messages(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node {
        seq direction senderRole text status type createdAt providerMessageId errorCode } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""


async def test_conversation_messages_in_order_both_ways(client, rt, world):
    conv = await seed_conversation(rt, world, texts=tuple(f"m{i}" for i in range(1, 6)))
    await add_outbound(rt, world.tenant_id, conv, text="answer")

    def seqs(body: dict) -> list[int]:
        return [e["node"]["seq"] for e in body["conversation"]["messages"]["edges"]]

    first = ok(await gql(client, CONVERSATION, {"id": str(conv), "first": 4}, key=world.api_key))
    assert seqs(first) == [1, 2, 3, 4]
    node = first["conversation"]["messages"]["edges"][0]["node"]
    assert node["direction"] == "INBOUND" and node["senderRole"] == "CUSTOMER"
    assert node["status"] == "RECEIVED" and node["providerMessageId"].startswith("wamid.")
    assert first["conversation"]["lastMessage"] == {"seq": 6, "text": "answer"}
    info = first["conversation"]["messages"]["pageInfo"]
    rest = ok(await gql(client, CONVERSATION, {"id": str(conv), "first": 4, "after": info["endCursor"]},
                        key=world.api_key))
    assert seqs(rest) == [5, 6]
    assert rest["conversation"]["messages"]["edges"][1]["node"]["direction"] == "OUTBOUND"

    latest = ok(await gql(client, CONVERSATION, {"id": str(conv), "last": 2}, key=world.api_key))
    assert seqs(latest) == [5, 6]
    assert latest["conversation"]["messages"]["pageInfo"]["hasPreviousPage"] is True
    older = ok(await gql(client, CONVERSATION, {
        "id": str(conv), "last": 3,
        "before": latest["conversation"]["messages"]["pageInfo"]["startCursor"]}, key=world.api_key))
    assert seqs(older) == [2, 3, 4]
    body = await gql(client, CONVERSATION, {"id": str(conv), "first": 2, "last": 2}, key=world.api_key)
    assert codes(body) == ["VALIDATION"]


async def test_reply_window_is_24h_after_the_last_inbound_and_null_for_webchat(client, rt, world):
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    conv = await seed_conversation(rt, world)
    await set_inbound_at(rt, conv, at)
    body = ok(await gql(client, CONVERSATION, {"id": str(conv)}, key=world.api_key))
    closes = datetime.fromisoformat(body["conversation"]["replyWindowClosesAt"])
    assert closes == at + timedelta(hours=24)

    web = await make_world(rt, kind="webchat", name="Web")
    web_conv = await seed_conversation(rt, web)
    body = ok(await gql(client, CONVERSATION, {"id": str(web_conv)}, key=web.api_key))
    assert body["conversation"]["replyWindowClosesAt"] is None
    assert body["conversation"]["channel"]["kind"] == "WEBCHAT"


async def _lead(rt, world, conv: uuid.UUID, name: str, upto: int, at: datetime) -> None:
    async with transaction(rt.sessions) as s:
        s.add(Lead(id=uuid.uuid4(), tenant_id=world.tenant_id, conversation_id=conv, name=name,
                   email=f"{name.lower()}@example.com", urgency=2, budget=1, fit=3, engagement=2,
                   demo_timezone="America/Mexico_City", notification="call back", from_seq=1,
                   to_seq=upto, model="gpt-4.1-mini", created_at=at))


async def test_conversation_lead_is_the_latest_and_leads_lists_them_all(client, rt, world):
    conv = await seed_conversation(rt, world, texts=("hi", "I am Ana from Initech"))
    now = datetime.now(UTC)
    await _lead(rt, world, conv, "Ana", 1, now - timedelta(minutes=5))
    await _lead(rt, world, conv, "Ana Initech", 2, now)
    body = ok(await gql(client, CONVERSATION, {"id": str(conv)}, key=world.api_key))
    assert body["conversation"]["lead"] == {"name": "Ana Initech", "email": "ana initech@example.com",
                                            "urgency": 2, "fromSeq": 1, "toSeq": 2,
                                            "demoTimezone": "America/Mexico_City"}
    leads = ok(await gql(client, """query($after: String) { leads(first: 1, after: $after) {
        edges { node { name conversation { id } } } pageInfo { hasNextPage endCursor } } }""",
        key=world.api_key))["leads"]
    assert [e["node"]["name"] for e in leads["edges"]] == ["Ana Initech"]
    assert leads["edges"][0]["node"]["conversation"]["id"] == str(conv)
    more = ok(await gql(client, """query($after: String) { leads(first: 1, after: $after) {
        edges { node { name } } pageInfo { hasNextPage } } }""",
        {"after": leads["pageInfo"]["endCursor"]}, key=world.api_key))["leads"]
    assert [e["node"]["name"] for e in more["edges"]] == ["Ana"]
    assert more["pageInfo"]["hasNextPage"] is False


MODE = """mutation($id: ID!, $mode: ConversationMode!) {
  setConversationMode(id: $id, mode: $mode) { id mode } }"""


async def test_set_conversation_mode(client, rt, world):
    conv = await seed_conversation(rt, world)
    assert ok(await gql(client, MODE, {"id": str(conv), "mode": "HUMAN"}, key=world.api_key))[
        "setConversationMode"]["mode"] == "HUMAN"
    assert ok(await gql(client, MODE, {"id": str(conv), "mode": "AI"}, key=world.api_key))[
        "setConversationMode"]["mode"] == "AI"
    body = await gql(client, MODE, {"id": str(conv), "mode": "ROBOT"}, key=world.api_key)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    body = await gql(client, MODE, {"id": "not-a-uuid", "mode": "AI"}, key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]
