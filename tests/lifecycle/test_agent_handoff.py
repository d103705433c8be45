"""The agent asks for a human: a Responses API function tool offered on every turn; when the
model calls it the conversation goes to the operators in the commit of the agent's last message."""

from __future__ import annotations

from typing import Any

from app.agents.service import update_agent
from app.db import transaction
from app.effects import take
from tests.factories import make_world
from tests.graphql.helpers import gql, ok
from tests.helpers import db_rows, wait_for
from tests.meta import post_text

CONVERSATION = """query($id: ID!) { conversation(id: $id) { mode handoffRequestedAt handoffReason
  messages(last: 10) { edges { node { senderRole text status statusReason } } } } }"""


async def test_asked_for_a_person_the_agent_hands_the_conversation_over(
    client, runtime, worker, graph, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await post_text(client, world.account_id, "Can I talk to a human, please?")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM conversations WHERE mode = 'human'"),
                   timeout=15)
    [request] = await model.requests()
    assert [t["name"] for t in request["body"]["tools"]] == ["request_human"]

    [conv] = await db_rows(db, "SELECT id, handoff_requested_at, handoff_reason FROM conversations")
    [reply] = await db_rows(db, "SELECT created_at FROM messages WHERE sender_role = 'ai'")
    # The same commit: the hand-off is stamped with the transaction that stored the reply.
    assert conv["handoff_requested_at"] == reply["created_at"]
    assert conv["handoff_reason"] == "the customer asked for a person"
    # The agent's last words still reach the customer.
    await wait_for(lambda: _sends(graph, world, 1), timeout=10)

    data = ok(await gql(client, CONVERSATION, {"id": str(conv["id"])}, key=world.api_key))
    assert data["conversation"]["mode"] == "HUMAN"
    assert data["conversation"]["handoffReason"] == "the customer asked for a person"

    # From now on the operators answer: the next message costs no model call.
    await post_text(client, world.account_id, "hello?")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE text = 'hello?' "
                                       "AND status = 'skipped' AND status_reason = 'human_mode'"))
    assert len(await model.requests()) == 1

    # An operator answering means nobody is waiting any more.
    ok(await gql(client, """mutation($id: ID!) { sendOperatorMessage(conversationId: $id,
                 text: "Hi, Ana here") { id } }""", {"id": str(conv["id"])}, key=world.api_key))
    data = ok(await gql(client, CONVERSATION, {"id": str(conv["id"])}, key=world.api_key))
    assert data["conversation"]["handoffRequestedAt"] is None


async def test_an_agent_without_hand_off_keeps_the_conversation(client, runtime, worker, graph,
                                                                model, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    async with transaction(runtime.sessions) as s:
        await update_agent(s, runtime.settings, world.tenant_id, world.agent_id,
                           handoff_enabled=False)
    take(s)
    await post_text(client, world.account_id, "I want a human")
    await wait_for(lambda: _sends(graph, world, 1), timeout=15)
    [request] = await model.requests()
    assert "tools" not in request["body"]
    [conv] = await db_rows(db, "SELECT mode, handoff_requested_at FROM conversations")
    assert (conv["mode"], conv["handoff_requested_at"]) == ("ai", None)


async def _sends(graph: Any, world: Any, n: int) -> Any:
    sends = await graph.requests(account_id=world.account_id)
    return sends if len(sends) >= n else None
