"""Instagram, complete: postbacks answered with the button's title, story replies and mentions
give the model the story, and an operator may answer for 7 days with the HUMAN_AGENT tag
(the agent never uses it)."""

from __future__ import annotations

from tests.factories import make_world
from tests.graphql.helpers import (
    add_outbound,
    codes,
    fail_message,
    gql,
    hours_ago,
    ok,
    seed_conversation,
    set_inbound_at,
)
from tests.helpers import wait_for
from tests.meta import deliver, ig_webhook, signed

SEND = """mutation($c: ID!, $t: String!) {
  sendOperatorMessage(conversationId: $c, text: $t) { id status }
}"""
RETRY = "mutation($id: ID!) { retryMessage(id: $id) { id status } }"


async def _send(client, world, event) -> None:
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-5", event=event))
    r = await deliver(client, raw, headers)
    assert r.status_code == 200 and r.json()["stored"] == 1


async def test_a_postback_is_answered_with_the_buttons_title(client, runtime, worker, graph, model):
    world = await make_world(runtime, kind="instagram", token="IGQ-token")
    await _send(client, world, {"postback": {"mid": "aWdfPB1", "title": "See prices",
                                             "payload": "PRICES"}})
    calls = await wait_for(lambda: model.requests())
    assert calls[0]["user_texts"] == ["See prices"]
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
    # The agent's reply: inside the window, never tagged.
    assert sends[0]["json"] == {"recipient": {"id": "IGSID-5"},
                                "message": {"text": "[sandbox] See prices"}}


async def test_story_replies_and_mentions_reach_the_model(client, runtime, worker, graph, model):
    world = await make_world(runtime, kind="instagram", token="IGQ-token")
    await _send(client, world, {"message": {
        "mid": "aWdfSR1", "text": "is this still available?",
        "reply_to": {"story": {"url": "https://cdn.test/stories/77", "id": "77"}}}})
    calls = await wait_for(lambda: model.requests())
    assert calls[0]["user_texts"] == [
        "[The customer replied to your story: https://cdn.test/stories/77]\n"
        "is this still available?"]
    await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
    await _send(client, world, {"message": {
        "mid": "aWdfSM1", "attachments": [{"type": "story_mention",
                                           "payload": {"url": "https://cdn.test/stories/78"}}]}})
    calls = await wait_for(lambda: _at_least(model, 2))
    assert "[The customer mentioned you in their story: https://cdn.test/stories/78]" in str(
        calls[1]["body"]["input"])


async def _at_least(model, n: int):
    found = await model.requests()
    return found if len(found) >= n else None


async def test_an_operator_may_answer_for_7_days_with_the_human_agent_tag(
    client, rt, worker, graph
):
    world = await make_world(rt, kind="instagram", token="IGQ-token", name="Shop")
    conv = await seed_conversation(rt, world, external_id="IGSID-9")
    await set_inbound_at(rt, conv, hours_ago(30))
    sent = ok(await gql(client, SEND, {"c": str(conv), "t": "Sorry for the wait!"},
                        key=world.api_key))["sendOperatorMessage"]
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
    assert sends[0]["json"] == {"recipient": {"id": "IGSID-9"}, "messaging_type": "MESSAGE_TAG",
                                "tag": "HUMAN_AGENT", "message": {"text": "Sorry for the wait!"}}
    assert sent["status"] == "PENDING"
    # Within 24 hours a person's reply needs no tag.
    await set_inbound_at(rt, conv, hours_ago(2))
    ok(await gql(client, SEND, {"c": str(conv), "t": "Anything else?"}, key=world.api_key))
    sends = await wait_for(lambda: _sends(graph, world, 2))
    assert "tag" not in sends[1]["json"] and "messaging_type" not in sends[1]["json"]
    # After 7 days nothing may go out, and nothing is stored.
    await set_inbound_at(rt, conv, hours_ago(7 * 24 + 1))
    body = await gql(client, SEND, {"c": str(conv), "t": "Still there?"}, key=world.api_key)
    assert codes(body) == ["WINDOW_CLOSED"] and "7-day" in body["errors"][0]["message"]
    # The agent's replies never use the tag: a failed AI reply is not retried past 24 hours.
    await set_inbound_at(rt, conv, hours_ago(30))
    reply = await add_outbound(rt, world.tenant_id, conv, status="sent", role="ai")
    await fail_message(rt, reply)
    assert codes(await gql(client, RETRY, {"id": str(reply)}, key=world.api_key)) == [
        "WINDOW_CLOSED"]
    assert len(await graph.requests(account_id=world.account_id, kind="send")) == 2


async def _sends(graph, world, n: int):
    found = await graph.requests(account_id=world.account_id, kind="send")
    return found if len(found) >= n else None
