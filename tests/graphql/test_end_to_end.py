"""A signed webhook reaches API process A; a dashboard subscribed on API process B sees the
customer's message and the AI's reply, which a worker produced: three processes' worth of
Redis clients, one event flow."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import make_world
from tests.graphql.helpers import ws_session
from tests.graphql.test_subscriptions import EVENTS, event_of
from tests.meta import signed, wa_message, wa_webhook


async def test_webhook_on_one_process_reaches_a_subscriber_on_another(
    live, serve, runtime, worker, graph, model
):
    second_live = serve()
    world = await make_world(runtime)
    async with ws_session(second_live, world.api_key) as ws:
        op = await ws.subscribe(EVENTS, {})
        await second_live.wait_subscribers(1)
        raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola, precio?")]))
        async with httpx.AsyncClient(base_url=live.url) as http:
            r = await http.post("/webhooks/meta", content=raw, headers=headers)
            assert r.status_code == 200, r.text

        created: list[dict[str, Any]] = []
        while len(created) < 2:
            ev = event_of(await ws.next_for(op, timeout=10))
            if ev["__typename"] == "MessageCreated":
                created.append(ev["message"])
        assert (created[0]["direction"], created[0]["senderRole"], created[0]["text"]) == (
            "INBOUND", "CUSTOMER", "Hola, precio?")
        assert (created[1]["direction"], created[1]["senderRole"]) == ("OUTBOUND", "AI")
        assert created[1]["text"] == "[sandbox] Hola, precio?"
