"""Private notes on a conversation and the tenant's labels: every operation, its errors, its
events, tenant isolation, the label filter, and that a note never reaches the model or the
customer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, seed_conversation, ws_session
from tests.graphql.test_subscriptions import event_of
from tests.helpers import db_rows, wait_for
from tests.meta import post_text

CREATE = """mutation CreateLabel($name: String!, $color: String) {
  createLabel(name: $name, color: $color) { id name color createdAt } }"""
UPDATE = """mutation UpdateLabel($id: ID!, $name: String, $color: String) {
  updateLabel(id: $id, name: $name, color: $color) { id name color } }"""
DELETE = "mutation DeleteLabel($id: ID!) { deleteLabel(id: $id) }"
LABELS = "query Labels { labels { name color } }"
ADD = """mutation AddLabel($c: ID!, $l: ID!) {
  addConversationLabel(conversationId: $c, labelId: $l) { id labels { name color } } }"""
REMOVE = """mutation RemoveLabel($c: ID!, $l: ID!) {
  removeConversationLabel(conversationId: $c, labelId: $l) { id labels { name } } }"""
LABELLED = """query Labelled($label: ID) { conversations(first: 20, filter: {label: $label}) {
  edges { node { id labels { name } } } } }"""
ONE = "query One($id: ID!) { conversation(id: $id) { labels { name } } }"
ADD_NOTE = """mutation AddNote($c: ID!, $text: String!) {
  addNote(conversationId: $c, text: $text) { id conversationId text authorKeyId authorName createdAt } }"""
DELETE_NOTE = "mutation DeleteNote($id: ID!) { deleteNote(id: $id) }"
NOTES = """query Notes($id: ID!, $first: Int, $after: String) { conversation(id: $id) {
  notes(first: $first, after: $after) { edges { node { id text authorName } }
  pageInfo { hasNextPage endCursor } } } }"""
EVENTS = """subscription Events($c: ID) { conversationEvents(conversationId: $c) {
  __typename
  ... on ConversationUpdated { conversationId change conversation { labels { name } } }
  ... on NoteAdded { conversationId note { id text authorName } }
  ... on NoteDeleted { conversationId noteId } } }"""


async def _label(client: Any, key: str, name: str, color: str | None = None) -> str:
    made = ok(await gql(client, CREATE, {"name": name, "color": color}, key=key))["createLabel"]
    return str(made["id"])


async def test_labels_are_created_renamed_recoloured_and_deleted(client, world):
    made = ok(await gql(client, CREATE, {"name": "  VIP   customer ", "color": "#22C55E"},
                        key=world.api_key))["createLabel"]
    assert (made["name"], made["color"]) == ("VIP customer", "#22c55e") and made["createdAt"]
    grey = await _label(client, world.api_key, "billing")
    assert ok(await gql(client, LABELS, key=world.api_key))["labels"] == [
        {"name": "VIP customer", "color": "#22c55e"}, {"name": "billing", "color": "#64748b"},
    ]
    renamed = ok(await gql(client, UPDATE, {"id": grey, "name": "Billing", "color": "#ef4444"},
                           key=world.api_key))["updateLabel"]
    assert renamed == {"id": grey, "name": "Billing", "color": "#ef4444"}
    # Only what is given changes.
    kept = ok(await gql(client, UPDATE, {"id": grey, "color": "#000000"}, key=world.api_key))
    assert kept["updateLabel"]["name"] == "Billing"
    assert ok(await gql(client, DELETE, {"id": grey}, key=world.api_key))["deleteLabel"] == grey
    assert [lb["name"] for lb in ok(await gql(client, LABELS, key=world.api_key))["labels"]] == [
        "VIP customer"]
    assert codes(await gql(client, DELETE, {"id": grey}, key=world.api_key)) == ["NOT_FOUND"]


@pytest.mark.parametrize(("variables", "code"), [
    ({"name": "   "}, "BAD_USER_INPUT"),
    ({"name": "x" * 51}, "BAD_USER_INPUT"),
    ({"name": "ok", "color": "green"}, "BAD_USER_INPUT"),
    ({"name": "ok", "color": "#12345"}, "BAD_USER_INPUT"),
    ({"name": "taken"}, "CONFLICT"),
])
async def test_a_bad_label_is_refused_with_a_clear_error(client, world, variables, code):
    await _label(client, world.api_key, "taken")
    body = await gql(client, CREATE, variables, key=world.api_key)
    assert codes(body) == [code] and body["_status"] == 200
    other = await _label(client, world.api_key, "other")
    if code == "CONFLICT":
        renamed = await gql(client, UPDATE, {"id": other, "name": "taken"}, key=world.api_key)
        assert codes(renamed) == ["CONFLICT"]


async def test_labels_on_conversations_and_the_label_filter(client, rt, world):
    vip = await _label(client, world.api_key, "vip", "#facc15")
    urgent = await _label(client, world.api_key, "urgent")
    ana = await seed_conversation(rt, world, name="Ana")
    luis = await seed_conversation(rt, world, name="Luis")
    await seed_conversation(rt, world, name="Eva")

    added = ok(await gql(client, ADD, {"c": str(ana), "l": vip}, key=world.api_key))
    assert added["addConversationLabel"]["labels"] == [{"name": "vip", "color": "#facc15"}]
    again = ok(await gql(client, ADD, {"c": str(ana), "l": vip}, key=world.api_key))
    assert again["addConversationLabel"]["labels"] == [{"name": "vip", "color": "#facc15"}]
    for conv in (ana, luis):
        ok(await gql(client, ADD, {"c": str(conv), "l": urgent}, key=world.api_key))
    one = ok(await gql(client, ONE, {"id": str(ana)}, key=world.api_key))["conversation"]
    assert one["labels"] == [{"name": "urgent"}, {"name": "vip"}]

    def ids(data: dict[str, Any]) -> set[str]:
        return {e["node"]["id"] for e in data["conversations"]["edges"]}

    assert ids(ok(await gql(client, LABELLED, {"label": vip}, key=world.api_key))) == {str(ana)}
    assert ids(ok(await gql(client, LABELLED, {"label": urgent}, key=world.api_key))) == {
        str(ana), str(luis)}
    assert len(ids(ok(await gql(client, LABELLED, {"label": None}, key=world.api_key)))) == 3

    removed = ok(await gql(client, REMOVE, {"c": str(ana), "l": urgent}, key=world.api_key))
    assert removed["removeConversationLabel"]["labels"] == [{"name": "vip"}]
    ok(await gql(client, REMOVE, {"c": str(ana), "l": urgent}, key=world.api_key))
    assert ids(ok(await gql(client, LABELLED, {"label": urgent}, key=world.api_key))) == {str(luis)}
    # Renaming shows everywhere; deleting takes the label off every conversation.
    ok(await gql(client, UPDATE, {"id": vip, "name": "VIP"}, key=world.api_key))
    one = ok(await gql(client, ONE, {"id": str(ana)}, key=world.api_key))["conversation"]
    assert one["labels"] == [{"name": "VIP"}]
    ok(await gql(client, DELETE, {"id": vip}, key=world.api_key))
    assert ok(await gql(client, ONE, {"id": str(ana)}, key=world.api_key))["conversation"] == {
        "labels": []}
    assert codes(await gql(client, LABELLED, {"label": vip}, key=world.api_key)) == ["NOT_FOUND"]


async def test_another_tenants_labels_notes_and_conversations_are_not_found(client, rt, world):
    other = await make_world(rt, name="Other")
    theirs_label = await _label(client, other.api_key, "theirs")
    theirs_conv = await seed_conversation(rt, other)
    theirs_note = ok(await gql(client, ADD_NOTE, {"c": str(theirs_conv), "text": "secret"},
                               key=other.api_key))["addNote"]["id"]
    mine_label = await _label(client, world.api_key, "mine")
    mine_conv = await seed_conversation(rt, world)
    attempts = [
        (UPDATE, {"id": theirs_label, "name": "x"}),
        (DELETE, {"id": theirs_label}),
        (ADD, {"c": str(mine_conv), "l": theirs_label}),
        (ADD, {"c": str(theirs_conv), "l": mine_label}),
        (REMOVE, {"c": str(theirs_conv), "l": mine_label}),
        (LABELLED, {"label": theirs_label}),
        (ADD_NOTE, {"c": str(theirs_conv), "text": "hello"}),
        (DELETE_NOTE, {"id": theirs_note}),
        (DELETE_NOTE, {"id": "not-a-uuid"}),
        (ADD, {"c": "nope", "l": mine_label}),
    ]
    for query, variables in attempts:
        assert codes(await gql(client, query, variables, key=world.api_key)) == ["NOT_FOUND"], (
            query, variables)
    assert ok(await gql(client, LABELS, key=world.api_key))["labels"] == [
        {"name": "mine", "color": "#64748b"}]
    their_notes = ok(await gql(client, NOTES, {"id": str(theirs_conv)}, key=other.api_key))
    assert [e["node"]["text"] for e in their_notes["conversation"]["notes"]["edges"]] == ["secret"]


async def test_notes_are_added_listed_newest_first_paged_and_deleted(client, rt, world, test_env):
    conv = await seed_conversation(rt, world)
    made = [ok(await gql(client, ADD_NOTE, {"c": str(conv), "text": f"note {i}"},
                         key=world.api_key))["addNote"] for i in range(3)]
    [key_row] = await db_rows(test_env["DATABASE_URL"],
                              "SELECT id, name FROM api_keys WHERE tenant_id = $1", world.tenant_id)
    assert made[0]["conversationId"] == str(conv) and made[0]["text"] == "note 0"
    assert (made[0]["authorKeyId"], made[0]["authorName"]) == (str(key_row["id"]), key_row["name"])

    first = ok(await gql(client, NOTES, {"id": str(conv), "first": 2}, key=world.api_key))
    page = first["conversation"]["notes"]
    assert [e["node"]["text"] for e in page["edges"]] == ["note 2", "note 1"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = ok(await gql(client, NOTES, {"id": str(conv), "first": 2,
                                        "after": page["pageInfo"]["endCursor"]}, key=world.api_key))
    assert [e["node"]["text"] for e in rest["conversation"]["notes"]["edges"]] == ["note 0"]
    assert rest["conversation"]["notes"]["edges"][0]["node"]["authorName"] == key_row["name"]

    assert ok(await gql(client, DELETE_NOTE, {"id": made[1]["id"]}, key=world.api_key)) == {
        "deleteNote": made[1]["id"]}
    left = ok(await gql(client, NOTES, {"id": str(conv)}, key=world.api_key))
    assert [e["node"]["text"] for e in left["conversation"]["notes"]["edges"]] == [
        "note 2", "note 0"]
    assert codes(await gql(client, DELETE_NOTE, {"id": made[1]["id"]}, key=world.api_key)) == [
        "NOT_FOUND"]
    # Nothing of it is a message.
    assert await db_rows(test_env["DATABASE_URL"],
                         "SELECT 1 FROM messages WHERE text LIKE 'note %'") == []


@pytest.mark.parametrize(("text", "code"), [("", "BAD_USER_INPUT"), ("  \n ", "BAD_USER_INPUT"),
                                            ("x" * 4001, "BAD_USER_INPUT")])
async def test_a_bad_note_is_refused(client, rt, world, text, code):
    conv = await seed_conversation(rt, world)
    assert codes(await gql(client, ADD_NOTE, {"c": str(conv), "text": text},
                           key=world.api_key)) == [code]
    bad_cursor = await gql(client, NOTES, {"id": str(conv), "after": "bm90IGEgY3Vyc29y"},
                           key=world.api_key)
    assert codes(bad_cursor) == ["BAD_USER_INPUT"]


async def test_notes_and_label_changes_are_events_of_the_conversation(live, rt, world):
    conv = await seed_conversation(rt, world)
    elsewhere = await seed_conversation(rt, world, name="Other")
    async with ws_session(live, world.api_key) as ws, httpx.AsyncClient(base_url=live.url) as client:
        op = await ws.subscribe(EVENTS, {"c": str(conv)})
        await live.wait_subscribers(1)
        label = await _label(client, world.api_key, "vip")
        ok(await gql(client, ADD_NOTE, {"c": str(elsewhere), "text": "not this one"},
                     key=world.api_key))
        note = ok(await gql(client, ADD_NOTE, {"c": str(conv), "text": "call back at 5"},
                            key=world.api_key))["addNote"]
        ok(await gql(client, ADD, {"c": str(conv), "l": label}, key=world.api_key))
        ok(await gql(client, DELETE_NOTE, {"id": note["id"]}, key=world.api_key))
        got = [event_of(await ws.next_for(op)) for _ in range(3)]
        assert await ws.nothing_for(0.3) == []
    assert got == [
        {"__typename": "NoteAdded", "conversationId": str(conv),
         "note": {"id": note["id"], "text": "call back at 5", "authorName": note["authorName"]}},
        {"__typename": "ConversationUpdated", "conversationId": str(conv), "change": "LABELS",
         "conversation": {"labels": [{"name": "vip"}]}},
        {"__typename": "NoteDeleted", "conversationId": str(conv), "noteId": note["id"]},
    ]


async def test_a_note_never_reaches_the_model_or_the_customer(
    client, runtime, worker, graph, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    secret = f"private-{uuid.uuid4().hex}"
    await post_text(client, world.account_id, "Hi, what are your prices?")
    await wait_for(lambda: _sends(graph, world, 1), timeout=15)
    [conv] = await db_rows(db, "SELECT id FROM conversations")
    ok(await gql(client, ADD_NOTE, {"c": str(conv["id"]), "text": secret}, key=world.api_key))
    # A hand-back makes the next turn rebuild the model's input from the history.
    for mode in ("HUMAN", "AI"):
        ok(await gql(client, """mutation Mode($id: ID!, $m: ConversationMode!) {
            setConversationMode(id: $id, mode: $m) { mode } }""",
                     {"id": str(conv["id"]), "m": mode}, key=world.api_key))
    await post_text(client, world.account_id, "And delivery?")
    sends = await wait_for(lambda: _sends(graph, world, 2), timeout=15)

    requests = await model.requests()
    assert len(requests) == 2
    assert "Hi, what are your prices?" in json.dumps(requests[1]["body"])  # the rebuilt history
    assert secret not in json.dumps(requests)
    assert secret not in json.dumps(sends)


async def _sends(graph: Any, world: Any, n: int) -> Any:
    sends = await graph.requests(account_id=world.account_id)
    return sends if len(sends) >= n else None


async def test_a_tenant_has_at_most_two_hundred_labels(client, rt, world, test_env):
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        await conn.executemany(
            "INSERT INTO labels (id, tenant_id, name, color) VALUES ($1, $2, $3, '#000000')",
            [(uuid.uuid4(), world.tenant_id, f"label {i}") for i in range(200)])
    finally:
        await conn.close()
    body = await gql(client, CREATE, {"name": "one more"}, key=world.api_key)
    assert codes(body) == ["LIMIT_REACHED"]
    other = await make_world(rt, name="Other")
    ok(await gql(client, CREATE, {"name": "one more"}, key=other.api_key))
