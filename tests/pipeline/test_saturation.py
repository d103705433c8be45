"""Saturation: offered load past the ingest's admission bound is refused with 503 +
Retry-After, nothing refused is stored, every acknowledged message is stored and answered,
and what was refused is taken when delivered again. The API's Postgres pool does not grow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.webhooks.admission import Admission
from tests.factories import make_world
from tests.helpers import db_rows, stop_worker, wait_for
from tests.meta import signed, wa_message, wa_webhook
from tests.widget.helpers import ORIGIN, Visitor
from workers.main import build_worker

SENDERS = 40
PER_SENDER = 5


@pytest.fixture
async def tight(settings: Any, clean: None) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with a small admission bound: 2 stores at once, 2 more may wait 20 ms."""
    from app.main import create_app

    bounded = settings.model_copy(update={"ingest_concurrency": 2, "ingest_max_queued": 2,
                                          "ingest_max_wait_ms": 20})
    application = create_app(bounded)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, c


def _webhook(account: str, sender: int, i: int) -> tuple[str, bytes, dict[str, str]]:
    wamid = f"wamid.sat.{sender}.{i}"
    raw, headers = signed(wa_webhook(account, [wa_message(f"s{sender}-{i}", wamid=wamid,
                                                          sender=f"52155{sender:08d}")]))
    return wamid, raw, headers


async def test_excess_is_refused_and_every_acknowledged_message_is_answered(
    tight, runtime, graph, model, test_env
):
    app, client = tight
    world = await make_world(runtime, credits=10_000)
    db = test_env["DATABASE_URL"]

    async def post(sender: int, i: int) -> tuple[str, httpx.Response]:
        wamid, raw, headers = _webhook(world.account_id, sender, i)
        return wamid, await client.post("/webhooks/meta", content=raw, headers=headers)

    backends_sql = ("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")
    before = (await db_rows(db, backends_sql))[0]["n"]
    # Every message of every sender at once: far more than 2 running + 2 waiting.
    results = await asyncio.gather(*(post(s, i) for s in range(SENDERS) for i in range(PER_SENDER)))
    statuses = {r.status_code for _, r in results}
    assert statuses <= {200, 503}, statuses
    acked = {w for w, r in results if r.status_code == 200}
    refused = [(w, r) for w, r in results if r.status_code == 503]
    assert acked and refused, (len(acked), len(refused))
    for _, r in refused:
        assert r.headers["retry-after"] == "1"
        assert r.json()["code"] == "UNAVAILABLE"

    stored = {r["provider_message_id"] for r in await db_rows(
        db, "SELECT provider_message_id FROM messages WHERE direction = 'inbound'")}
    assert stored == acked  # nothing refused was stored, nothing acknowledged is missing

    # The burst opened no more Postgres connections than stores it ran at once.
    assert (await db_rows(db, backends_sql))[0]["n"] - before <= app.state.admission.slots

    # Meta delivers the refused ones again, one at a time: all are taken now.
    for wamid, _ in refused:
        sender, i = (int(x) for x in wamid.removeprefix("wamid.sat.").split("."))
        _, r = await post(sender, i)
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == 1

    w = build_worker(runtime.settings, handle_signals=False, poll_delay=0.02)
    task = asyncio.create_task(w.async_run())
    try:
        total = SENDERS * PER_SENDER

        async def all_answered() -> bool:
            rows = await db_rows(db, "SELECT count(*) AS n FROM messages "
                                     "WHERE direction = 'inbound' AND status = 'answered'")
            return bool(rows[0]["n"] == total)

        await wait_for(all_answered, timeout=60, interval=0.2)
    finally:
        await stop_worker(w, task)
    # Every message is in exactly one reply the Graph API received, in its sender's order.
    texts = [s["json"]["text"]["body"].removeprefix("[sandbox] ").split(" | ")
             for s in await graph.requests(account_id=world.account_id)]
    seen = [t for batch in texts for t in batch]
    assert sorted(seen) == sorted(f"s{s}-{i}" for s in range(SENDERS) for i in range(PER_SENDER))
    assert app.state.admission.running == 0


async def test_a_full_admission_refuses_the_widget_and_the_webhook_before_storing(
    tight, runtime, test_env
):
    app, client = tight
    world = await make_world(runtime)
    chat = await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})
    visitor = await Visitor(client, chat.account_id).session()
    admission: Admission = app.state.admission
    # Occupy every slot and every waiting place, as a burst in progress would.
    for _ in range(admission.slots):
        assert await admission.acquire() is None
    waiters = [asyncio.create_task(admission.acquire()) for _ in range(admission.queued)]
    await asyncio.sleep(0)
    try:
        _, raw, headers = _webhook(world.account_id, 1, 1)
        r = await client.post("/webhooks/meta", content=raw, headers=headers)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        w = await visitor.send("hola", client_id="c0ffee01")
        assert w.status_code == 503 and w.headers["retry-after"] == "1"
        # The page can read the refusal: CORS headers are on it.
        assert w.headers["access-control-allow-origin"] == ORIGIN
        assert await db_rows(test_env["DATABASE_URL"], "SELECT 1 FROM messages") == []
    finally:
        for waiter in waiters:
            if await waiter is None:  # timed out ("wait") unless a slot came free in time
                admission.release()
        for _ in range(admission.slots):
            admission.release()
    # Capacity is back: the same deliveries are stored once each.
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["stored"] == 1
    w = await visitor.send("hola", client_id="c0ffee01")
    assert w.status_code == 201, w.text


async def test_admission_bounds_the_wait_and_the_queue() -> None:
    admission = Admission(slots=1, queued=1, wait_s=0.05)
    assert await admission.acquire() is None
    # A second caller waits, and gives up after the bound.
    assert await admission.acquire() == "wait"
    # While one waits, a third is refused at once. (A bound no pause of a busy machine reaches,
    # so the one waiting is still there when the slot comes free.)
    patient = Admission(slots=1, queued=1, wait_s=60)
    assert await patient.acquire() is None
    waiting = asyncio.create_task(patient.acquire())
    await wait_for(lambda: patient.waiting == 1)
    assert await patient.acquire() == "full"
    # A slot freed within the bound goes to the one waiting.
    patient.release()
    assert await waiting is None
    assert patient.running == 1 and patient.waiting == 0
    patient.release()
    assert await patient.acquire() is None
