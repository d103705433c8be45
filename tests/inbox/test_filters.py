"""The inbox's lists: filters (mine, unassigned, status, needs a human, failed or skipped
messages, unread, channels, channel kind, activity range, lead fit), orders with stable
cursors, totalCount, and the tab counts in one query."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.channels.service import create_channel
from app.db import transaction
from app.models import Conversation, Lead
from tests.graphql.helpers import add_outbound, codes, fail_message, gql, ok, seed_conversation
from tests.inbox.helpers import ids, make_operator, page

ASSIGN = "mutation($c: ID!, $o: ID) { assignConversation(id: $c, operatorId: $o) { id } }"
COUNTS = """query($f: ConversationFilter) { conversationCounts(filter: $f) {
  total mine unassigned unread needsHuman byStatus { status count } byMode { mode count }
  byChannel { channelId count } byAssignee { assigneeId count } } }"""


async def set_columns(rt, conv: uuid.UUID, **values) -> None:
    async with transaction(rt.sessions) as s:
        await s.execute(update(Conversation).where(Conversation.id == conv).values(**values))


async def test_each_filter_finds_what_it_says(client, rt, world, other):
    ana = await make_operator(client, world.api_key, "Ana")
    luis = await make_operator(client, world.api_key, "Luis")
    async with transaction(rt.sessions) as s:
        channel = await create_channel(s, rt.settings, world.tenant_id, kind="webchat",
                                       provider_account_id=None, access_token=None,
                                       display_name="Acme web")
    web = replace(world, channel_id=channel.id, agent_id=None)

    mine = await seed_conversation(rt, world, name="Mine")
    luis_conv = await seed_conversation(rt, world, name="Luis's")
    handoff = await seed_conversation(rt, world, name="Handoff")
    human_waiting = await seed_conversation(rt, world, name="Human waiting")
    human_answered = await seed_conversation(rt, world, name="Human answered")
    failing = await seed_conversation(rt, world, name="Failing")
    on_web = await seed_conversation(rt, web, name="Web")
    await seed_conversation(rt, other, name="Not ours")
    ok(await gql(client, ASSIGN, {"c": str(mine)}, key=ana.key))
    ok(await gql(client, ASSIGN, {"c": str(luis_conv), "o": luis.id}, key=ana.key))
    await set_columns(rt, handoff, mode="human", handoff_requested_at=datetime.now(UTC))
    await add_outbound(rt, world.tenant_id, handoff, text="a person will answer")
    await set_columns(rt, human_waiting, mode="human")
    await set_columns(rt, human_answered, mode="human")
    await add_outbound(rt, world.tenant_id, human_answered, role="operator", text="on it")
    await fail_message(rt, await add_outbound(rt, world.tenant_id, failing, text="lost"))
    await set_columns(rt, on_web, status="resolved")
    async with transaction(rt.sessions) as s:
        s.add(Lead(id=uuid.uuid4(), tenant_id=world.tenant_id, conversation_id=failing,
                   name="Hot", urgency=3, budget=3, fit=3, engagement=3, from_seq=1, to_seq=1,
                   model="gpt-4.1-mini"))
        s.add(Lead(id=uuid.uuid4(), tenant_id=world.tenant_id, conversation_id=mine,
                   name="Cold", urgency=1, budget=1, fit=1, engagement=1, from_seq=1, to_seq=1,
                   model="gpt-4.1-mini"))
    ok(await gql(client, "mutation($c: ID!) { markConversationRead(id: $c) { id } }",
                 {"c": str(mine)}, key=ana.key))

    async def found(f, key=ana.key):
        conn = await page(client, key, first=50, filter=f)
        assert conn["totalCount"] == len(conn["edges"])
        return set(ids(conn))

    everything = {mine, luis_conv, handoff, human_waiting, human_answered, failing, on_web}
    assert await found({}) == {str(c) for c in everything}
    assert await found({"assignee": "MINE"}) == {str(mine)}
    assert await found({"assignee": "UNASSIGNED"}) == {
        str(c) for c in everything - {mine, luis_conv}}
    assert await found({"assignee": "ASSIGNED"}) == {str(mine), str(luis_conv)}
    assert await found({"assigneeId": luis.id}) == {str(luis_conv)}
    assert await found({"needsHuman": True}) == {str(handoff), str(human_waiting)}
    assert await found({"hasFailedMessages": True}) == {str(failing)}
    assert await found({"status": ["RESOLVED"]}) == {str(on_web)}
    assert await found({"status": ["OPEN", "PENDING"]}) == {str(c) for c in everything - {on_web}}
    assert await found({"channelKind": "WEBCHAT"}) == {str(on_web)}
    assert await found({"channelIds": [str(web.channel_id), str(world.channel_id)]}) == {
        str(c) for c in everything}
    assert await found({"channelIds": [str(web.channel_id)]}) == {str(on_web)}
    assert await found({"minLeadFit": 2}) == {str(failing)}
    assert await found({"unread": False}) == {str(mine)}
    assert len(await found({"unread": True})) == 6
    assert await found({"assignee": "UNASSIGNED", "needsHuman": True,
                        "search": "handoff"}) == {str(handoff)}
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert await found({"activeFrom": future}) == set()
    assert len(await found({"activeFrom": past, "activeTo": future})) == 7

    # Bad input is named; another tenant's channel is not found; a machine key has no "mine".
    for f, code in (({"minLeadFit": 4}, "BAD_USER_INPUT"),
                    ({"activeFrom": future, "activeTo": past}, "BAD_USER_INPUT"),
                    ({"channelIds": [str(other.channel_id)]}, "NOT_FOUND"),
                    ({"channelIds": ["x"]}, "NOT_FOUND")):
        body = await gql(client, "query($f: ConversationFilter) { conversations(filter: $f) "
                         "{ totalCount } }", {"f": f}, key=ana.key)
        assert codes(body) == [code], (f, body)
    for f in ({"assignee": "MINE"}, {"unread": True}):
        body = await gql(client, "query($f: ConversationFilter) { conversations(filter: $f) "
                         "{ totalCount } }", {"f": f}, key=world.api_key)
        assert codes(body) == ["FORBIDDEN"] and "operator" in body["errors"][0]["message"]

    counts = ok(await gql(client, COUNTS, {"f": {"archived": False}}, key=ana.key))[
        "conversationCounts"]
    assert counts["total"] == 7 and counts["mine"] == 1 and counts["unassigned"] == 5
    assert counts["unread"] == 6 and counts["needsHuman"] == 2
    assert {(s["status"], s["count"]) for s in counts["byStatus"]} == {("OPEN", 6), ("RESOLVED", 1)}
    assert {(m["mode"], m["count"]) for m in counts["byMode"]} == {("AI", 4), ("HUMAN", 3)}
    assert {(c["channelId"], c["count"]) for c in counts["byChannel"]} == {
        (str(world.channel_id), 6), (str(web.channel_id), 1)}
    assert {(a["assigneeId"], a["count"]) for a in counts["byAssignee"]} == {
        (ana.id, 1), (luis.id, 1), (None, 5)}
    machine = ok(await gql(client, COUNTS, {"f": {"status": ["OPEN"]}}, key=world.api_key))[
        "conversationCounts"]
    assert machine["total"] == 6 and machine["mine"] is None and machine["unread"] is None
    theirs = ok(await gql(client, COUNTS, {}, key=other.api_key))["conversationCounts"]
    assert theirs["total"] == 1


async def walk(client, key, order, first, **args):
    seen, after = [], None
    while True:
        conn = await page(client, key, "id createdAt lastActivityAt unreadCount", first=first,
                          after=after, orderBy=order, **args)
        seen += [e["node"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            return seen
        after = conn["pageInfo"]["endCursor"]


async def test_orders_page_through_every_conversation_once(client, rt, world):
    ana = await make_operator(client, world.api_key, "Ana")
    convs = [await seed_conversation(rt, world, name=f"C{i}") for i in range(7)]
    same = datetime.now(UTC) - timedelta(minutes=1)
    # Ties on time: the id decides, so no cursor skips or repeats a row.
    for i, conv in enumerate(convs):
        await set_columns(rt, conv, last_activity_at=same if i < 4 else same + timedelta(seconds=i),
                          created_at=same - timedelta(seconds=i % 3))
    for conv in convs[:3]:
        ok(await gql(client, "mutation($c: ID!) { markConversationRead(id: $c) { id } }",
                     {"c": str(conv)}, key=ana.key))

    by_activity = await walk(client, ana.key, "LAST_ACTIVITY", 2)
    assert len(by_activity) == 7 and len({n["id"] for n in by_activity}) == 7
    keys = [(n["lastActivityAt"], n["id"]) for n in by_activity]
    assert keys == sorted(keys, reverse=True)

    by_created = await walk(client, ana.key, "CREATED", 3)
    keys = [(n["createdAt"], n["id"]) for n in by_created]
    assert len(set(keys)) == 7 and keys == sorted(keys, reverse=True)

    unread_first = await walk(client, ana.key, "UNREAD_FIRST", 2)
    assert [n["unreadCount"] > 0 for n in unread_first] == [True] * 4 + [False] * 3
    assert {n["id"] for n in unread_first[4:]} == {str(c) for c in convs[:3]}
    keys = [(n["lastActivityAt"], n["id"]) for n in unread_first[:4]]
    assert keys == sorted(keys, reverse=True)
    filtered = await walk(client, ana.key, "UNREAD_FIRST", 2, filter={"search": "C"})
    assert [n["id"] for n in filtered] == [n["id"] for n in unread_first]

    body = await gql(client, "{ conversations(orderBy: UNREAD_FIRST) { totalCount } }",
                     key=world.api_key)
    assert codes(body) == ["FORBIDDEN"]
    # A cursor from another order, or made up, is refused by name.
    created_cursor = (await page(client, ana.key, first=1, orderBy="CREATED"))["pageInfo"][
        "endCursor"]
    for cursor in (created_cursor, "bm9wZQ", "x" * 600):
        body = await gql(client, "query($a: String) { conversations(after: $a, "
                         "orderBy: UNREAD_FIRST) { totalCount } }", {"a": cursor}, key=ana.key)
        assert codes(body) == ["BAD_USER_INPUT"], body


async def test_total_count_ignores_paging_and_counts_with_the_plain_filters(client, rt, world):
    for i in range(5):
        await seed_conversation(rt, world, name=f"P{i}")
    first = await page(client, world.api_key, first=2)
    assert first["totalCount"] == 5 and len(first["edges"]) == 2
    second = await page(client, world.api_key, first=2, after=first["pageInfo"]["endCursor"])
    assert second["totalCount"] == 5
    assert (await page(client, world.api_key, first=2, filter={"search": "P3"}))["totalCount"] == 1
    assert (await page(client, world.api_key, filter={"mode": "HUMAN"}))["totalCount"] == 0
