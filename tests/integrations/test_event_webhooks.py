"""Signed event webhooks to a tenant's own systems, against a real local receiver."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.integrations.delivery import Unsafe, check_address, signature
from app.sandbox.server import run_in_thread
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, ws_session
from tests.helpers import wait_for
from tests.meta import post_text

CREATE = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes enabled } } }"""
DELIVERIES = """query { webhookEndpoints { id enabled disabledReason failingSince
  deliveries(first: 50) { id eventId eventType status attempts lastStatusCode lastError
                          attemptLog { statusCode error } } } }"""
ALL_MESSAGE_EVENTS = ["MESSAGE_RECEIVED", "MESSAGE_SENT", "MESSAGE_FAILED",
                      "CONVERSATION_MODE_CHANGED"]


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's recipe from documentation/guides/receive-events.md."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Receiver:
    """A tenant's HTTP endpoint: records every request, answers with `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[dict[str, Any]] = []

        async def hook(request: Request) -> Response:
            body = await request.body()
            self.requests.append({"headers": dict(request.headers), "body": body,
                                  "json": orjson.loads(body), "answered": self.status})
            return Response("ok" if self.status < 300 else "down", status_code=self.status)

        self.server = run_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
        self.url = self.server.url + "/hook"

    def accepted(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests if r["answered"] < 300
                and (event_type is None or r["json"]["type"] == event_type)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.server.stop()


@pytest.fixture
def fast_retries(settings: Any) -> Any:
    settings.webhook_backoff_base_s = 0.2
    return settings


async def _endpoint(client: Any, world: Any, url: str, types: list[str]) -> dict[str, Any]:
    data = ok(await gql(client, CREATE, {"input": {"url": url, "eventTypes": types}},
                        key=world.api_key))["createWebhookEndpoint"]
    assert data["secret"].startswith("whsec_")
    return dict(data)


async def test_signed_events_reach_the_receiver(fast_retries, client, runtime, worker, graph,
                                                receiver):
    world = await make_world(runtime)
    created = await _endpoint(client, world, receiver.url, ALL_MESSAGE_EVENTS)
    await post_text(client, world.account_id, "Hola, precio?")

    await wait_for(lambda: _async(
        (receiver.accepted("message.sent") and receiver.accepted("message.received")) or None
    ), timeout=15)
    received = receiver.accepted("message.received")
    assert [e["data"]["message"]["text"] for e in received] == ["Hola, precio?"]
    [sent] = receiver.accepted("message.sent")
    assert sent["data"]["message"]["text"] == "[sandbox] Hola, precio?"
    assert sent["tenantId"] == str(world.tenant_id)
    for r in receiver.requests:
        assert verify(created["secret"], r["headers"]["x-mca-signature"], r["body"])
        assert r["headers"]["x-mca-event-id"] == r["json"]["id"]
        assert not verify("whsec_someone_else", r["headers"]["x-mca-signature"], r["body"])

    # The attempts are visible, each delivery delivered once. The worker records an attempt
    # after the receiver has answered it: wait for the record, not only the receiver.
    async def recorded() -> Any:
        [ep] = ok(await gql(client, DELIVERIES, key=world.api_key))["webhookEndpoints"]
        ds = ep["deliveries"]
        return ds if len(ds) == 2 and all(d["attempts"] for d in ds) else None

    deliveries = await wait_for(recorded, timeout=15)
    assert {(d["eventType"], d["status"], d["attempts"], d["lastStatusCode"])
            for d in deliveries} == {("MESSAGE_RECEIVED", "DELIVERED", 1, 200),
                                     ("MESSAGE_SENT", "DELIVERED", 1, 200)}


async def test_a_receiver_down_for_a_while_gets_every_event_once_back(
    fast_retries, client, runtime, worker, graph, receiver
):
    world = await make_world(runtime)
    await _endpoint(client, world, receiver.url, ["MESSAGE_RECEIVED"])
    receiver.status = 503
    for text in ("uno", "dos", "tres"):
        await post_text(client, world.account_id, text)

    async def failing() -> Any:
        eps = ok(await gql(client, DELIVERIES, key=world.api_key))["webhookEndpoints"]
        ds = eps[0]["deliveries"]
        return ds if len(ds) == 3 and all(d["attempts"] >= 2 for d in ds) else None

    deliveries = await wait_for(failing, timeout=20)
    assert {d["status"] for d in deliveries} == {"PENDING"}
    assert deliveries[0]["lastStatusCode"] == 503
    assert deliveries[0]["attemptLog"][-1] == {"statusCode": 503, "error": "HTTP 503: down"}

    receiver.status = 200
    await wait_for(lambda: _async(len(receiver.accepted()) >= 3 or None), timeout=20)
    texts = sorted(e["data"]["message"]["text"] for e in receiver.accepted())
    assert texts == ["dos", "tres", "uno"]
    # Each event keeps its id across attempts: the receiver can drop repeats.
    ids = {r["json"]["id"] for r in receiver.requests}
    assert len(ids) == 3


async def test_a_delivery_can_be_sent_again_by_hand(client, runtime, worker, receiver):
    world, conv = await _mode_changed(client, runtime, receiver)
    await wait_for(lambda: _async(receiver.accepted("conversation.mode_changed")), timeout=15)
    [first] = receiver.accepted()
    assert first["data"]["conversation"] == {"id": conv, "mode": "human"}

    async def delivered() -> Any:
        [ep] = ok(await gql(client, DELIVERIES, key=world.api_key))["webhookEndpoints"]
        return ep["deliveries"] if ep["deliveries"][0]["status"] == "DELIVERED" else None

    [delivery] = await wait_for(delivered, timeout=15)  # recorded, not only received
    again = ok(await gql(client, "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status } }",
                         {"id": delivery["id"]}, key=world.api_key))
    assert again["redeliverWebhook"]["status"] == "PENDING"
    await wait_for(lambda: _async(len(receiver.accepted()) == 2 or None), timeout=15)
    assert receiver.accepted()[1]["id"] == first["id"]


async def test_an_endpoint_failing_for_long_is_disabled(fast_retries, client, runtime, worker,
                                                        graph, receiver):
    fast_retries.webhook_disable_after_s = 1
    world = await make_world(runtime)
    await _endpoint(client, world, receiver.url, ["MESSAGE_RECEIVED"])
    receiver.status = 500
    await post_text(client, world.account_id, "hola")

    async def disabled() -> Any:
        [ep] = ok(await gql(client, DELIVERIES, key=world.api_key))["webhookEndpoints"]
        return ep if not ep["enabled"] else None

    ep = await wait_for(disabled, timeout=20)
    assert ep["disabledReason"].startswith("failing since")
    assert ep["deliveries"][0]["lastStatusCode"] == 500
    # Switched back on, the delivery is re-sent by hand and arrives.
    receiver.status = 200
    ok(await gql(client, "mutation($id: ID!) { updateWebhookEndpoint(id: $id, "
                         "input: {enabled: true}) { enabled } }", {"id": ep["id"]},
                 key=world.api_key))
    ok(await gql(client, "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status } }",
                 {"id": ep["deliveries"][0]["id"]}, key=world.api_key))
    await wait_for(lambda: _async(receiver.accepted("message.received")), timeout=15)


async def test_private_addresses_are_refused_in_production(settings, client, runtime, worker,
                                                           receiver):
    with pytest.raises(Unsafe, match="non-public address"):
        await check_address("http://127.0.0.1:9/hook", allow_private=False, require_https=False)
    with pytest.raises(Unsafe, match="non-public address"):
        await check_address("http://169.254.169.254/latest", allow_private=False,
                            require_https=False)
    with pytest.raises(Unsafe, match="https"):
        await check_address("http://example.com/hook", allow_private=True, require_https=True)

    # At delivery time, not only at registration: the receiver is on loopback.
    settings.webhook_allow_private = False
    world, _ = await _mode_changed(client, runtime, receiver)

    async def refused() -> Any:
        [ep] = ok(await gql(client, DELIVERIES, key=world.api_key))["webhookEndpoints"]
        return ep["deliveries"] if ep["deliveries"] and ep["deliveries"][0]["attempts"] else None

    [delivery] = await wait_for(refused, timeout=15)
    assert "non-public address" in delivery["lastError"]
    assert receiver.requests == []


async def test_endpoints_are_the_tenants_own(client, runtime, receiver):
    world = await make_world(runtime, name="Acme")
    other = await make_world(runtime, name="Intruder")
    created = await _endpoint(client, world, receiver.url, ["MESSAGE_SENT"])
    eid = created["endpoint"]["id"]
    assert ok(await gql(client, DELIVERIES, key=other.api_key))["webhookEndpoints"] == []
    for mutation in (
        'mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: false}) { id } }',
        "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
    ):
        assert codes(await gql(client, mutation, {"id": eid}, key=other.api_key)) == ["NOT_FOUND"]
    bad = await gql(client, CREATE, {"input": {"url": "ftp://x", "eventTypes": ["MESSAGE_SENT"]}},
                    key=world.api_key)
    assert codes(bad) == ["VALIDATION"]
    rotated = ok(await gql(client, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
                           {"id": eid}, key=world.api_key))["rotateWebhookSecret"]["secret"]
    assert rotated != created["secret"]


def test_a_forged_or_replayed_delivery_fails_verification() -> None:
    body = b'{"id":"1","type":"message.sent"}'
    header = signature("whsec_abc", int(time.time()), body)
    assert verify("whsec_abc", header, body)
    assert not verify("whsec_abc", header, body.replace(b"sent", b"failed"))
    old = signature("whsec_abc", int(time.time()) - 3600, body)
    assert not verify("whsec_abc", old, body)


async def _mode_changed(client: Any, runtime: Any, receiver: Any) -> tuple[Any, str]:
    """A tenant whose endpoint takes mode changes; a customer writes and an operator takes the
    conversation over. The tenant and the conversation's id."""
    world = await make_world(runtime)
    await _endpoint(client, world, receiver.url, ["CONVERSATION_MODE_CHANGED"])
    await post_text(client, world.account_id, "hola")
    conv = await wait_for(lambda: _conversation(client, world))
    ok(await gql(client, "mutation($id: ID!) { setConversationMode(id: $id, mode: HUMAN) { id } }",
                 {"id": conv}, key=world.api_key))
    return world, conv


async def _async(value: Any) -> Any:
    return value


async def _conversation(client: Any, world: Any) -> str | None:
    data = ok(await gql(client, "{ conversations(first: 1) { edges { node { id } } } }",
                        key=world.api_key))
    edges = data["conversations"]["edges"]
    return str(edges[0]["node"]["id"]) if edges else None


async def test_credits_low_fires_once_per_crossing(client, runtime, worker, graph, receiver):
    world = await make_world(runtime, credits=3)
    await _endpoint(client, world, receiver.url, ["CREDITS_LOW"])
    ok(await gql(client, "mutation { setCreditsLowThreshold(threshold: 1) }", key=world.api_key))
    for text in ("uno", "dos", "tres"):
        await post_text(client, world.account_id, text)
        # One turn at a time: each reply debits one credit (3 -> 2 -> 1 -> 0).
        await wait_for(lambda t=text: _sent(graph, world, t), timeout=15)
    low = await wait_for(lambda: _async(receiver.accepted("credits.low")), timeout=15)
    assert [e["data"] for e in low] == [{"balance": 1, "threshold": 1}]
    await wait_for(lambda: _async(len(receiver.requests) == 1 or None))
    assert len(receiver.accepted("credits.low")) == 1


async def test_an_expired_token_tells_the_tenant(client, runtime, worker, graph, receiver):
    world = await make_world(runtime)
    await _endpoint(client, world, receiver.url, ["CHANNEL_NEEDS_REAUTH"])
    await graph.script([{"status": 401, "code": 190, "title": "Access token has expired"}])
    await post_text(client, world.account_id, "hola")
    [event] = await wait_for(lambda: _async(receiver.accepted("channel.needs_reauth")), timeout=15)
    assert event["data"]["channel"]["id"] == str(world.channel_id)
    assert event["data"]["channel"]["providerAccountId"] == world.account_id


async def _sent(graph: Any, world: Any, text: str) -> bool:
    sends = await graph.requests(account_id=world.account_id)
    return any(s["json"]["text"]["body"] == f"[sandbox] {text}" for s in sends)


async def test_the_agent_asking_for_a_person_tells_the_tenant(client, runtime, worker, graph,
                                                              receiver):
    world = await make_world(runtime)
    await _endpoint(client, world, receiver.url, ["CONVERSATION_HANDOFF_REQUESTED"])
    await post_text(client, world.account_id, "Can I speak to a human?")
    [event] = await wait_for(lambda: _async(receiver.accepted("conversation.handoff_requested")),
                             timeout=15)
    assert event["data"]["conversation"]["mode"] == "human"
    assert event["data"]["reason"] == "the customer asked for a person"


async def test_the_console_hears_when_an_endpoint_is_switched_off(
    fast_retries, live, client, runtime, worker, graph, receiver
):
    fast_retries.webhook_disable_after_s = 1
    world = await make_world(runtime)
    created = await _endpoint(client, world, receiver.url, ["MESSAGE_RECEIVED"])
    receiver.status = 500
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe("subscription { notices { kind message endpointId } }")
        await live.wait_subscribers(1)
        await post_text(client, world.account_id, "hola")
        notice = (await ws.next_for(op, timeout=30))["payload"]["data"]["notices"]
    assert notice["kind"] == "webhook_endpoint_disabled"
    assert notice["endpointId"] == created["endpoint"]["id"]
    assert receiver.url in notice["message"]
