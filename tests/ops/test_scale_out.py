"""Scale-out: two API processes and two worker processes on one PostgreSQL and one Redis.

Signed WhatsApp webhooks go alternately to both APIs, and a third of them are redelivered to
the other API (as Meta does after a slow answer). A dashboard subscribed over websocket on API
#1 must see, live, every customer message (wherever it was ingested) and every AI reply (from
whichever worker). Afterwards: every conversation was answered in order, every message stored
and answered once, nothing sent twice, and the credits add up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from tests.factories import make_world
from tests.graphql.helpers import ws_session
from tests.graphql.test_subscriptions import EVENTS, event_of
from tests.helpers import ROOT, AppProcess, free_port, start_app, stop_apps, until_up
from tests.meta import signed, wa_message, wa_webhook
from tests.ops.helpers import parse, total, value

CONVERSATIONS = 8
PER_CONVERSATION = 6
INITIAL_CREDITS = 1_000
PRICE = 2
LOGS = ROOT / ".data" / "scale-out"


@contextmanager
def _cluster() -> Iterator[tuple[list[AppProcess], list[AppProcess]]]:
    apis = [start_app(f"api{i}", ["serve", "--port", str(port)], {}, LOGS, port)
            for i, port in enumerate((free_port(), free_port()), 1)]
    workers = [start_app(f"worker{i}", ["worker"], {"WORKER_METRICS_PORT": str(port)}, LOGS, port)
               for i, port in enumerate((free_port(), free_port()), 1)]
    try:
        yield apis, workers
    finally:
        stop_apps([*apis, *workers])


@pytest.fixture
async def cluster(runtime: Any) -> AsyncIterator[tuple[list[AppProcess], list[AppProcess]]]:
    with _cluster() as (apis, workers):
        # API: ready once /readyz answers; worker: once its start-up hook served its metrics.
        await asyncio.gather(*(until_up(p, p.url + "/readyz", timeout=60) for p in apis),
                             *(until_up(p, p.url + "/metrics", timeout=60) for p in workers))
        yield apis, workers


async def _scrape(url: str) -> Any:
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(url + "/metrics")
        assert r.status_code == 200
        return parse(r.text)


async def _post(http: httpx.AsyncClient, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    r = await http.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.timeout(240)
async def test_two_apis_and_two_workers_keep_order_dedup_credits_and_live_events(
    cluster, runtime, graph, model, test_env
):
    apis, workers = cluster
    # Enough model latency that messages pile up behind a busy conversation and are batched.
    await model.config(latency_ms=50, latency_jitter_ms=150)
    world = await make_world(runtime, credits=INITIAL_CREDITS, credits_per_reply=PRICE)
    senders = [f"5215{n:09d}" for n in range(CONVERSATIONS)]
    posted: dict[str, list[str]] = defaultdict(list)  # sender -> texts in posting order
    stored_by: dict[str, int] = {}  # wamid -> index of the API that stored it
    duplicates_answered = 0

    async with ws_session(apis[0], world.api_key) as ws, \
            httpx.AsyncClient(base_url=apis[0].url, timeout=10) as api1, \
            httpx.AsyncClient(base_url=apis[1].url, timeout=10) as api2:
        op = await ws.subscribe(EVENTS, {})

        async def subscribed() -> None:
            # The subscription lives in another process: its hub's gauge says when it is in.
            deadline = time.monotonic() + 10
            while value(await _scrape(apis[0].url), "mca_open_subscriptions") < 1:
                assert time.monotonic() < deadline, "the subscription never registered"
                await asyncio.sleep(0.05)

        await subscribed()
        clients = (api1, api2)

        async def converse(c: int, sender: str) -> None:
            nonlocal duplicates_answered
            for i in range(PER_CONVERSATION):
                text = f"c{c}-m{i}"
                wamid = f"wamid.{uuid.uuid4().hex}"
                raw, headers = signed(wa_webhook(world.account_id,
                                                 [wa_message(text, wamid=wamid, sender=sender)]))
                first = (c + i) % 2  # alternate APIs, and start on a different one per conversation
                body = await _post(clients[first], raw, headers)
                assert body["stored"] == 1, body
                stored_by[wamid] = first
                posted[sender].append(text)
                if i % 3 == 0:
                    # Meta's redelivery, to the other process this time.
                    again = await _post(clients[1 - first], raw, headers)
                    assert again.get("stored", 0) == 0 and again["duplicates"] == 1, again
                    duplicates_answered += 1

        await asyncio.gather(*(converse(c, s) for c, s in enumerate(senders)))
        total_messages = CONVERSATIONS * PER_CONVERSATION
        assert len(stored_by) == total_messages
        assert sum(stored_by.values()) > 0  # API #2 really ingested some of them

        db = await asyncpg.connect(test_env["DATABASE_URL"])
        try:
            deadline = time.monotonic() + 90
            while await db.fetchval("SELECT count(*) FROM messages WHERE direction='inbound' "
                                    "AND status IN ('received','processing')"):
                assert time.monotonic() < deadline, "messages still pending after 90 s"
                await asyncio.sleep(0.25)
            inbound = await db.fetch(
                "SELECT m.id, m.provider_message_id, m.text, m.status, m.seq, c.external_id "
                "FROM messages m JOIN conversations v ON v.id = m.conversation_id "
                "JOIN contacts c ON c.id = v.contact_id "
                "WHERE m.direction='inbound' ORDER BY c.external_id, m.seq")
            replies = await db.fetch(
                "SELECT m.id, m.text, m.status, m.reply_to_seq, c.external_id "
                "FROM messages m JOIN conversations v ON v.id = m.conversation_id "
                "JOIN contacts c ON c.id = v.contact_id "
                "WHERE m.direction='outbound' ORDER BY c.external_id, m.seq")
            balance = await db.fetchval("SELECT credit_balance FROM tenants WHERE id = $1",
                                        world.tenant_id)
            ledger = await db.fetchval("SELECT sum(delta) FROM credit_ledger WHERE tenant_id = $1",
                                       world.tenant_id)
        finally:
            await db.close()

        # Every reply is known now; wait until the dashboard on API #1 has seen all of it.
        want = {str(r["id"]) for r in inbound} | {str(r["id"]) for r in replies}
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 30
        while not want <= seen.keys():
            assert time.monotonic() < deadline, f"{len(want - seen.keys())} events never arrived"
            ev = event_of(await ws.next_for(op, timeout=max(0.1, deadline - time.monotonic())))
            assert ev["__typename"] != "EventsMissed", ev  # nothing was dropped on the way
            if ev["__typename"] == "MessageCreated":
                seen[ev["message"]["id"]] = ev["message"]

    # Dedup: one row per wamid, each answered.
    assert len(inbound) == total_messages
    assert len({r["provider_message_id"] for r in inbound}) == total_messages
    assert {r["status"] for r in inbound} == {"answered"}
    assert duplicates_answered == CONVERSATIONS * len(range(0, PER_CONVERSATION, 3))

    # Ordering: stored in the order each customer sent, and answered in that order.
    by_sender: dict[str, list[str]] = defaultdict(list)
    for r in inbound:
        by_sender[r["external_id"]].append(r["text"])
    assert by_sender == posted
    answered: dict[str, list[str]] = defaultdict(list)
    for r in replies:
        assert r["status"] == "sent", r
        answered[r["external_id"]].extend(r["text"].removeprefix("[sandbox] ").split(" | "))
    assert answered == posted  # each message in exactly one reply, in order

    # One send per reply at the provider: nothing went out twice.
    sends = [s for s in await graph.requests(account_id=world.account_id) if s["status"] == 200]
    ours = [s["json"].get("biz_opaque_callback_data") for s in sends]
    assert len(ours) == len(set(ours)) == len(replies)
    assert set(ours) == {str(r["id"]) for r in replies}

    # Credits: reserved and committed once per reply, across both workers.
    assert balance == ledger == INITIAL_CREDITS - len(replies) * PRICE

    # The live view on API #1: customer messages from both APIs, AI replies from the workers.
    for r in inbound:
        got = seen[str(r["id"])]
        assert (got["direction"], got["senderRole"], got["text"]) == ("INBOUND", "CUSTOMER", r["text"])
    for r in replies:
        got = seen[str(r["id"])]
        assert (got["direction"], got["senderRole"], got["text"]) == ("OUTBOUND", "AI", r["text"])

    # Each worker exports its own metrics; together they account for every reply.
    scraped = [await _scrape(w.url) for w in workers]
    assert sum(value(s, "mca_replies_sent_total", kind="whatsapp", sender="ai")
               for s in scraped) == len(replies)
    assert sum(total(s, "mca_credits_consumed_total") for s in scraped) == len(replies) * PRICE
    assert sum(value(s, "mca_stage_seconds_count", stage="queue_wait")
               for s in scraped) == len(replies)
