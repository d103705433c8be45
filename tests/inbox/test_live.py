"""The inbox live: two operators on two sockets see each other's assignments, status changes
and typing; a customer's first message announces a new conversation, the AI's work shows as
a typing signal, and a customer message reopens a resolved conversation in the statement
that stores it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.graphql.subscriptions import event_cursor
from tests.factories import make_world
from tests.graphql.helpers import WS, ws_session
from tests.inbox.helpers import make_operator
from tests.meta import deliver, signed, wa_message, wa_webhook

EVENTS = """subscription { conversationEvents { __typename
  ... on MessageCreated { conversationId message { text senderRole } }
  ... on MessageStatusChanged { conversationId message { direction status } }
  ... on ConversationUpdated { conversationId change status assigneeId snoozedUntil }
  ... on ConversationCreated { conversationId conversation { id status contact { profileName } } }
  ... on Typing { conversationId actor active operatorId operatorName expiresInSeconds }
} }"""


async def next_of(ws: WS, op: str, typename: str, **match: Any) -> dict[str, Any]:
    """The next event of this type (and these values), skipping the others."""
    while True:
        msg = await ws.next_for(op, timeout=15)
        assert msg["type"] == "next" and not msg["payload"].get("errors"), msg
        ev: dict[str, Any] = msg["payload"]["data"]["conversationEvents"]
        if ev["__typename"] == typename and all(ev.get(k) == v for k, v in match.items()):
            return ev


async def call(http: httpx.AsyncClient, key: str, query: str, **variables: Any) -> dict[str, Any]:
    r = await http.post("/graphql", json={"query": query, "variables": variables},
                        headers={"Authorization": f"Bearer {key}"})
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def test_two_operators_on_two_sockets(live, runtime, worker, model):
    world = await make_world(runtime)
    async with httpx.AsyncClient(base_url=live.url) as http:
        ana = await make_operator(http, world.api_key, "Ana")
        luis = await make_operator(http, world.api_key, "Luis")
        async with ws_session(live, ana.key) as ana_ws, ws_session(live, luis.key) as luis_ws:
            a = await ana_ws.subscribe(EVENTS)
            b = await luis_ws.subscribe(EVENTS)
            await live.wait_subscribers(2)

            # A customer's first message: a new conversation for both, then the AI at work.
            raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola")], name="Rosa"))
            assert (await deliver(http, raw, headers)).status_code == 200
            for ws, op in ((ana_ws, a), (luis_ws, b)):
                created = await next_of(ws, op, "ConversationCreated")
                assert created["conversation"]["status"] == "OPEN"
                assert created["conversation"]["contact"]["profileName"] == "Rosa"
            conv = created["conversationId"]
            working = await next_of(luis_ws, b, "Typing", actor="AGENT", active=True)
            assert working["conversationId"] == conv and working["operatorId"] is None
            await next_of(luis_ws, b, "MessageCreated", conversationId=conv)
            await next_of(luis_ws, b, "Typing", actor="AGENT", active=False)

            # Ana takes it: Luis sees it is hers.
            await call(http, ana.key, "mutation($c: ID!) { assignConversation(id: $c) { id } }",
                       c=conv)
            seen = await next_of(luis_ws, b, "ConversationUpdated", change="ASSIGNEE")
            assert (seen["conversationId"], seen["assigneeId"], seen["status"]) == (
                conv, ana.id, "OPEN")
            # Ana types; Luis sees who.
            await call(http, ana.key, "mutation($c: ID!) { setTyping(conversationId: $c) }",
                       c=conv)
            typing = await next_of(luis_ws, b, "Typing", actor="OPERATOR")
            assert (typing["operatorId"], typing["operatorName"], typing["active"]) == (
                ana.id, "Ana", True)
            assert typing["expiresInSeconds"] > 0
            # Ana resolves; Luis sees it.
            await call(http, ana.key, "mutation($c: ID!) { resolveConversation(id: $c) { id } }",
                       c=conv)
            seen = await next_of(luis_ws, b, "ConversationUpdated", change="STATUS")
            assert (seen["status"], seen["assigneeId"]) == ("RESOLVED", ana.id)

            # The customer writes again: reopened, with the message, for both.
            raw, headers = signed(wa_webhook(world.account_id, [wa_message("One more thing")]))
            assert (await deliver(http, raw, headers)).status_code == 200
            for ws, op in ((ana_ws, a), (luis_ws, b)):
                # (Ana's socket still holds her own RESOLVED event: skipped.)
                again = await next_of(ws, op, "ConversationUpdated", change="STATUS",
                                      conversationId=conv, status="OPEN")
                assert again["assigneeId"] is None  # a reopen event says the status only
            one = await call(http, luis.key, """query($c: ID!) { conversation(id: $c) {
                status assignee { name } unreadCount } }""", c=conv)
            assert one["conversation"]["status"] == "OPEN"
            assert one["conversation"]["assignee"] == {"name": "Ana"}
            assert one["conversation"]["unreadCount"] == 2

            # The same message delivered again reopens nothing and stores nothing.
            await call(http, ana.key, "mutation($c: ID!) { resolveConversation(id: $c) { id } }",
                       c=conv)
            assert (await deliver(http, raw, headers)).status_code == 200
            still = await call(http, ana.key, "query($c: ID!) { conversation(id: $c) { status } }",
                               c=conv)
            assert still["conversation"]["status"] == "RESOLVED"


async def test_a_snoozed_conversation_wakes_at_the_customers_message(live, runtime, model):
    world = await make_world(runtime)
    async with httpx.AsyncClient(base_url=live.url) as http:
        raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hi")]))
        assert (await deliver(http, raw, headers)).status_code == 200
        page = await call(http, world.api_key, "{ conversations { edges { node { id } } } }")
        conv = page["conversations"]["edges"][0]["node"]["id"]
        until = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
        await call(http, world.api_key, """mutation($c: ID!, $u: DateTime!) {
            snoozeConversation(id: $c, until: $u) { id } }""", c=conv, u=until)
        async with ws_session(live, world.api_key) as ws:
            op = await ws.subscribe(EVENTS)
            await live.wait_subscribers(1)
            raw, headers = signed(wa_webhook(world.account_id, [wa_message("Still there?")]))
            assert (await deliver(http, raw, headers)).status_code == 200
            woke = await next_of(ws, op, "ConversationUpdated", change="STATUS")
            assert (woke["conversationId"], woke["status"], woke["snoozedUntil"]) == (
                conv, "OPEN", None)


async def test_a_replay_ends_with_the_conversations_inbox_state(live, runtime):
    world = await make_world(runtime)
    async with httpx.AsyncClient(base_url=live.url) as http:
        ana = await make_operator(http, world.api_key, "Ana")
        raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hi")]))
        assert (await deliver(http, raw, headers)).status_code == 200
        page = await call(http, ana.key, "{ conversations { edges { node { id } } } }")
        conv = page["conversations"]["edges"][0]["node"]["id"]
        await call(http, ana.key, "mutation($c: ID!) { assignConversation(id: $c) { id } }", c=conv)
        await call(http, ana.key, "mutation($c: ID!) { markConversationPending(id: $c) { id } }",
                   c=conv)
        cursor = event_cursor(datetime.now(UTC) - timedelta(minutes=5), str(uuid.uuid4()))
        async with ws_session(live, ana.key) as ws:
            op = await ws.subscribe("""subscription($c: ID, $a: String) {
                conversationEvents(conversationId: $c, after: $a) { __typename
                ... on ConversationUpdated { change status assigneeId } } }""",
                {"c": conv, "a": cursor})
            sync = await next_of(ws, op, "ConversationUpdated", change="SYNC")
            assert (sync["status"], sync["assigneeId"]) == ("PENDING", ana.id)
