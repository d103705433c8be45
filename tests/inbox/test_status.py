"""Assignment, status and read markers: each mutation, its errors, its event, and another
tenant's objects not found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select

from app.models import Conversation
from tests.graphql.helpers import add_outbound, codes, gql, ok, seed_conversation
from tests.inbox.helpers import make_operator
from workers.inbox import wake_snoozed

FIELDS = "id status snoozedUntil statusChangedAt assignee { id name } unreadCount lastReadSeq"
ASSIGN = "mutation($c: ID!, $o: ID) { assignConversation(id: $c, operatorId: $o) { " + FIELDS + " } }"
UNASSIGN = "mutation($c: ID!) { unassignConversation(id: $c) { " + FIELDS + " } }"
RESOLVE = "mutation($c: ID!) { resolveConversation(id: $c) { " + FIELDS + " } }"
REOPEN = "mutation($c: ID!) { reopenConversation(id: $c) { " + FIELDS + " } }"
PENDING = "mutation($c: ID!) { markConversationPending(id: $c) { " + FIELDS + " } }"
SNOOZE = "mutation($c: ID!, $u: DateTime!) { snoozeConversation(id: $c, until: $u) { " + FIELDS + " } }"
READ = "mutation($c: ID!, $s: Int) { markConversationRead(id: $c, seq: $s) { " + FIELDS + " } }"
ONE = "query($c: ID!) { conversation(id: $c) { " + FIELDS + " } }"


async def published(rt, tenant_id, action):
    """The events `action` publishes on the tenant's topic."""
    pubsub = rt.redis.pubsub()
    await pubsub.subscribe(f"mca:events:{tenant_id}")
    try:
        await pubsub.get_message(timeout=1)  # the subscription's confirmation
        result = await action()
        got = []
        while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)):
            got.append(orjson.loads(msg["data"]))
        return result, got
    finally:
        await pubsub.aclose()


async def test_assign_unassign_and_the_assignee_event(client, rt, world, other):
    ana = await make_operator(client, world.api_key, "Ana")
    luis = await make_operator(client, world.api_key, "Luis")
    conv = await seed_conversation(rt, world)
    c = str(conv)

    node, events = await published(rt, world.tenant_id, lambda: gql(
        client, ASSIGN, {"c": c, "o": luis.id}, key=ana.key))
    assert ok(node)["assignConversation"]["assignee"] == {"id": luis.id, "name": "Luis"}
    assert [(e["type"], e["change"], e["assigneeId"]) for e in events] == [
        ("ConversationUpdated", "assignee", luis.id)]
    # No operatorId: to the caller.
    mine = ok(await gql(client, ASSIGN, {"c": c}, key=ana.key))["assignConversation"]
    assert mine["assignee"]["id"] == ana.id
    # Assigning to whoever has it already changes nothing and announces nothing.
    _, quiet = await published(rt, world.tenant_id, lambda: gql(
        client, ASSIGN, {"c": c, "o": ana.id}, key=ana.key))
    assert quiet == []
    assert ok(await gql(client, UNASSIGN, {"c": c}, key=world.api_key))[
        "unassignConversation"]["assignee"] is None

    assert codes(await gql(client, ASSIGN, {"c": c}, key=world.api_key)) == ["FORBIDDEN"]
    theirs = await make_operator(client, other.api_key, "Eve")
    assert codes(await gql(client, ASSIGN, {"c": c, "o": theirs.id}, key=ana.key)) == ["NOT_FOUND"]
    assert codes(await gql(client, ASSIGN, {"c": c, "o": "nope"}, key=ana.key)) == ["NOT_FOUND"]
    assert codes(await gql(client, ASSIGN, {"c": c, "o": ana.id}, key=other.api_key)) == [
        "NOT_FOUND"]
    assert codes(await gql(client, RESOLVE, {"c": c}, key=other.api_key)) == ["NOT_FOUND"]


async def test_resolve_reopen_pending_and_snooze(client, rt, world):
    conv = await seed_conversation(rt, world)
    c = str(conv)
    assert ok(await gql(client, ONE, {"c": c}, key=world.api_key))["conversation"]["status"] == "OPEN"
    node, events = await published(rt, world.tenant_id, lambda: gql(
        client, RESOLVE, {"c": c}, key=world.api_key))
    resolved = ok(node)["resolveConversation"]
    assert resolved["status"] == "RESOLVED" and resolved["statusChangedAt"]
    assert [(e["change"], e["status"]) for e in events] == [("status", "resolved")]
    assert ok(await gql(client, PENDING, {"c": c}, key=world.api_key))[
        "markConversationPending"]["status"] == "PENDING"
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    snoozed = ok(await gql(client, SNOOZE, {"c": c, "u": until.isoformat()}, key=world.api_key))[
        "snoozeConversation"]
    assert snoozed["status"] == "SNOOZED"
    assert datetime.fromisoformat(snoozed["snoozedUntil"]) == until
    reopened = ok(await gql(client, REOPEN, {"c": c}, key=world.api_key))["reopenConversation"]
    assert reopened["status"] == "OPEN" and reopened["snoozedUntil"] is None

    for bad in ((datetime.now(UTC) - timedelta(minutes=1)), datetime.now(UTC) + timedelta(days=400)):
        body = await gql(client, SNOOZE, {"c": c, "u": bad.isoformat()}, key=world.api_key)
        assert codes(body) == ["BAD_USER_INPUT"], body
    # Not a time at all: refused by the schema, before any resolver.
    assert codes(await gql(client, SNOOZE, {"c": c, "u": "tomorrow"}, key=world.api_key)) == [
        "GRAPHQL_VALIDATION_FAILED"]


async def test_a_snooze_ends_when_its_time_passes(client, rt, world):
    conv = await seed_conversation(rt, world)
    later = await seed_conversation(rt, world, name="Later")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    for cid, until in ((conv, soon), (later, datetime.now(UTC) + timedelta(hours=1))):
        ok(await gql(client, SNOOZE, {"c": str(cid), "u": until.isoformat()}, key=world.api_key))
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)

    woken, events = await published(rt, world.tenant_id, lambda: wake_snoozed({"rt": rt}))
    assert woken == 1
    assert [(e["conversationId"], e["change"], e["status"]) for e in events] == [
        (str(conv), "status", "open")]
    async with rt.sessions() as s:
        states = dict((await s.execute(select(Conversation.id, Conversation.status))).all())
    assert states == {conv: "open", later: "snoozed"}
    assert await wake_snoozed({"rt": rt}) == 0


async def test_read_markers_and_unread_counts_per_operator(client, rt, world, other):
    ana = await make_operator(client, world.api_key, "Ana")
    luis = await make_operator(client, world.api_key, "Luis")
    conv = await seed_conversation(rt, world, texts=("one", "two"))
    c = str(conv)
    await add_outbound(rt, world.tenant_id, conv, text="AI answer")
    fresh = ok(await gql(client, ONE, {"c": c}, key=ana.key))["conversation"]
    assert (fresh["unreadCount"], fresh["lastReadSeq"]) == (2, 0)
    # A machine key has no markers.
    machine = ok(await gql(client, ONE, {"c": c}, key=world.api_key))["conversation"]
    assert (machine["unreadCount"], machine["lastReadSeq"]) == (None, None)

    part = ok(await gql(client, READ, {"c": c, "s": 1}, key=ana.key))["markConversationRead"]
    assert (part["unreadCount"], part["lastReadSeq"]) == (1, 1)
    done = ok(await gql(client, READ, {"c": c}, key=ana.key))["markConversationRead"]
    assert (done["unreadCount"], done["lastReadSeq"]) == (0, 3)
    # A marker never moves back; Luis's are his own.
    back = ok(await gql(client, READ, {"c": c, "s": 1}, key=ana.key))["markConversationRead"]
    assert back["lastReadSeq"] == 3
    assert ok(await gql(client, ONE, {"c": c}, key=luis.key))["conversation"]["unreadCount"] == 2

    assert codes(await gql(client, READ, {"c": c}, key=world.api_key)) == ["FORBIDDEN"]
    assert codes(await gql(client, READ, {"c": c, "s": 99}, key=ana.key)) == ["BAD_USER_INPUT"]
    assert codes(await gql(client, READ, {"c": c, "s": -1}, key=ana.key)) == ["BAD_USER_INPUT"]
    theirs = await make_operator(client, other.api_key, "Eve")
    assert codes(await gql(client, READ, {"c": c}, key=theirs.key)) == ["NOT_FOUND"]


TYPING = "mutation($c: ID!, $a: Boolean) { setTyping(conversationId: $c, active: $a) }"


async def test_typing_is_published_at_once_and_stored_nowhere(client, rt, world, other):
    ana = await make_operator(client, world.api_key, "Ana")
    conv = await seed_conversation(rt, world)
    done, events = await published(rt, world.tenant_id, lambda: gql(
        client, TYPING, {"c": str(conv), "a": False}, key=ana.key))
    assert ok(done)["setTyping"] is True
    assert [(e["type"], e["actor"], e["operatorName"], e["active"], e["expiresInSeconds"])
            for e in events] == [("Typing", "operator", "Ana", False, 0)]
    assert codes(await gql(client, TYPING, {"c": str(conv)}, key=world.api_key)) == ["FORBIDDEN"]
    theirs = await make_operator(client, other.api_key, "Eve")
    _, leaked = await published(rt, world.tenant_id, lambda: gql(
        client, TYPING, {"c": str(conv)}, key=theirs.key))
    assert leaked == []
    assert codes(await gql(client, TYPING, {"c": str(conv)}, key=theirs.key)) == ["NOT_FOUND"]
