"""`GET /metrics` and the worker's metrics port: what an operator's Prometheus sees.

Counters are process-wide and other tests move them too, so every check is a difference
between a scrape before and a scrape after.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_world
from tests.graphql.helpers import ws_session
from tests.graphql.test_subscriptions import EVENTS
from tests.helpers import db_row, free_port, running_worker, wait_for
from tests.meta import signed, wa_message, wa_webhook
from tests.ops.helpers import Samples, parse, total, value

FAMILIES = {
    "mca_webhook_requests", "mca_pending_messages", "mca_stage_seconds", "mca_model_tokens",
    "mca_model_errors", "mca_send_errors", "mca_replies_sent", "mca_credits_consumed",
    "mca_open_subscriptions", "mca_breaker_open",
}


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


async def test_every_family_is_exposed_in_prometheus_text(client):
    r = await client.get("/metrics")
    assert r.status_code == 200
    # The classic format unless the scraper asks for another: every Prometheus version reads it.
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert names >= FAMILIES, FAMILIES - names
    samples = parse(r.text)
    # Breakers are reported closed before their first trip, not missing.
    assert ("mca_breaker_open", frozenset({("dependency", "model")})) in samples
    assert ("mca_breaker_open", frozenset({("dependency", "graph")})) in samples


async def test_openmetrics_when_the_scraper_asks_for_it(client):
    r = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


async def test_a_reply_moves_webhook_stage_model_reply_and_credit_metrics(
    client, runtime, worker, graph, test_env
):
    world = await make_world(runtime, credits=10, credits_per_reply=3)
    before = await scrape(client)

    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hola")]))
    bad = await client.post("/webhooks/meta", content=raw,
                            headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert bad.status_code == 401
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_row(db, "SELECT 1 FROM messages WHERE direction='outbound' "
                                       "AND status='sent'"), timeout=10)
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mca_webhook_requests_total", endpoint="meta", result="bad_signature") == 1
    assert delta("mca_webhook_requests_total", endpoint="meta", result="ok") == 1
    for stage in ("queue_wait", "model", "send"):
        assert delta("mca_stage_seconds_count", stage=stage) == 1, stage
    # The wait is measured from the row's arrival, so it is positive and short here.
    waited = delta("mca_stage_seconds_sum", stage="queue_wait")
    assert 0 <= waited < 10
    assert delta("mca_replies_sent_total", kind="whatsapp", sender="ai") == 1
    assert delta("mca_credits_consumed_total") == 3
    assert total(after, "mca_model_tokens_total") > total(before, "mca_model_tokens_total")


async def test_send_errors_are_counted_by_meta_code(client, runtime, worker, graph, test_env):
    world = await make_world(runtime)
    await graph.script([{"status": 400, "code": 131047, "title": "Re-engagement message"}])
    before = await scrape(client)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hola")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_row(db, "SELECT 1 FROM messages WHERE direction='outbound' "
                                       "AND status='failed'"), timeout=10)
    after = await scrape(client)
    labels = {"kind": "whatsapp", "code": "131047"}
    assert value(after, "mca_send_errors_total", **labels) - value(
        before, "mca_send_errors_total", **labels) == 1


async def test_model_errors_are_counted_by_reason(client, runtime, worker, model, test_env):
    world = await make_world(runtime)
    await model.config(fail=[{"status": 200, "failed": True}])
    before = await scrape(client)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hola")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_row(db, "SELECT 1 FROM messages WHERE direction='inbound' "
                                       "AND status='failed'"), timeout=10)
    after = await scrape(client)
    assert total(after, "mca_model_errors_total") - total(before, "mca_model_errors_total") == 1


async def test_pending_messages_is_the_backlog_without_a_worker(client, runtime):
    world = await make_world(runtime)
    for i in range(3):
        raw, headers = signed(wa_webhook(world.account_id, [wa_message(f"m{i}")]))
        assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    async def pending() -> bool:
        # The count is cached for a second (the webhook's backpressure count): poll past it.
        return value(await scrape(client), "mca_pending_messages") == 3

    await wait_for(pending, interval=0.2)


async def test_breaker_state_is_exported(client, settings):
    from app.pipeline.breaker import breaker

    b = breaker("model", settings.breaker_failure_threshold, settings.breaker_reset_s)
    try:
        for _ in range(settings.breaker_failure_threshold):
            b.failure()
        assert value(await scrape(client), "mca_breaker_open", dependency="model") == 1
    finally:
        b.success()
    assert value(await scrape(client), "mca_breaker_open", dependency="model") == 0



async def test_open_subscriptions_follow_websocket_subscribers(live, runtime):
    world = await make_world(runtime)
    async with httpx.AsyncClient(base_url=live.url) as http:
        base = value(await scrape(http), "mca_open_subscriptions")
        async with ws_session(live, world.api_key) as ws:
            await ws.subscribe(EVENTS, {})
            await ws.subscribe(EVENTS, {})
            await live.wait_subscribers(2)
            assert value(await scrape(http), "mca_open_subscriptions") == base + 2

        async def closed() -> bool:
            return value(await scrape(http), "mca_open_subscriptions") == base

        await wait_for(closed)


async def test_worker_serves_the_same_metrics_on_its_port(runtime):
    port = free_port()
    settings = runtime.settings.model_copy(update={"worker_metrics_port": port})
    async with running_worker(settings), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

        async def up() -> httpx.Response | None:
            try:
                return await http.get("/metrics")
            except httpx.TransportError:
                return None

        r = await wait_for(up, timeout=10)
        assert r.status_code == 200
        names = {f.name for f in text_string_to_metric_families(r.text)}
        assert names >= FAMILIES, FAMILIES - names
    # Stopped with the worker: nothing listens on the port any more.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/metrics")
