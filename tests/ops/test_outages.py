"""Postgres restarted and Redis killed (and started again empty) under load, with an API
process and two worker processes on servers of the test's own (app.cli.devservers), so the session's
shared servers are not disturbed.

Customers write at their own pace whatever happens to the platform; a webhook that is not
answered 200 is delivered again 2 s later, as Meta does. Afterwards every message was stored
once, in the order its customer sent it, and answered once (one send per reply at the fake
Graph API), no process exited, and the credits add up. Printed: each outage's length, the time
from its end to the first answer after it, and until everything acknowledged before its end
was answered.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.cli.devservers import Services, _start_postgres, _start_valkey, start_services
from tests.factories import make_world
from tests.helpers import ROOT, free_port, start_app, stop_apps, until_up
from tests.meta import signed, wa_message, wa_webhook

CONVERSATIONS = 12
PACE_S = 1.2  # each customer writes about this often: 10 messages/s in all
LOAD_S = 15.0
PG_RESTART_AT = 3.0
REDIS_KILL_AT = 9.0
REDIS_DOWN_S = 1.0  # connections refused for about a second, as in the report
REDELIVERY_S = 2.0  # Meta delivers a webhook that was not answered 200 again after this
LOGS = ROOT / ".data" / "outages"


@pytest.fixture
def own_servers() -> Iterator[tuple[Services, Path]]:
    from alembic import command
    from alembic.config import Config

    data_dir = ROOT / ".data" / f"outage-servers-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    svc = start_services(data_dir, durable=False)
    try:
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.attributes["database_url"] = svc.database_url
        cfg.attributes["configure_logger"] = False
        command.upgrade(cfg, "head")
        yield svc, data_dir
    finally:
        svc.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def _restart_postgres(svc: Services, data_dir: Path) -> None:
    """A fast shutdown (every connection is closed) and a start on the same port."""
    proc, sig = svc._procs[0]
    proc.send_signal(signal.SIGINT)
    await asyncio.to_thread(proc.wait, 30)
    svc._procs[0] = (await asyncio.to_thread(_start_postgres, data_dir, _port(svc.database_url), False),
                     sig)


async def _kill_redis_and_start_it_empty(svc: Services, data_dir: Path) -> None:
    proc, sig = svc._procs[1]
    proc.kill()
    await asyncio.to_thread(proc.wait, 30)
    shutil.rmtree(data_dir / "valkey", ignore_errors=True)  # its append-only file: nothing back
    await asyncio.sleep(REDIS_DOWN_S)  # the outage itself
    svc._procs[1] = (await asyncio.to_thread(_start_valkey, data_dir, _port(svc.redis_url), False),
                     sig)


@dataclass
class Load:
    sent: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    acked_at: dict[str, float] = field(default_factory=dict)  # text -> when it was answered 200
    refused: list[str] = field(default_factory=list)  # what each non-200 attempt got


async def _deliver(http: httpx.AsyncClient, load: Load, text: str, body: dict[str, Any]) -> None:
    """One webhook, delivered again REDELIVERY_S after every answer that is not a 200."""
    raw, headers = signed(body)
    while True:
        try:
            r = await http.post("/webhooks/meta", content=raw, headers=headers)
            if r.status_code == 200:
                load.acked_at[text] = time.time()
                return
            load.refused.append(str(r.status_code))
        except httpx.TransportError as exc:
            load.refused.append(type(exc).__name__)
        await asyncio.sleep(REDELIVERY_S)


async def _customer(http: httpx.AsyncClient, load: Load, account: str, c: int, until: float) -> None:
    sender = f"5215{c:09d}"
    rng = random.Random(c)
    await asyncio.sleep(c * PACE_S / CONVERSATIONS)  # spread the customers out
    deliveries = []
    i = 0
    while time.monotonic() < until:
        text = f"c{c}-m{i}"
        load.sent[sender].append(text)
        body = wa_webhook(account, [wa_message(text, wamid=f"wamid.{uuid.uuid4().hex}", sender=sender)])
        # The customer does not wait for the platform: the next message comes at their pace.
        deliveries.append(asyncio.create_task(_deliver(http, load, text, body)))
        i += 1
        await asyncio.sleep(PACE_S * rng.uniform(0.8, 1.2))
    await asyncio.gather(*deliveries)


async def _all_answered(db: str, total: int, timeout: float) -> None:
    conn = await asyncpg.connect(db)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'inbound' AND status = 'answered'")
            if done >= total:
                return
            pending = await conn.fetch(
                "SELECT status, count(*) FROM messages WHERE direction = 'inbound' "
                "GROUP BY status")
            assert time.monotonic() < deadline, f"{done}/{total} answered: {pending}"
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


@pytest.mark.timeout(300)
async def test_a_postgres_restart_and_a_redis_restart_lose_nothing_and_keep_order(
    own_servers, settings, graph, model
):
    from app.runtime import open_runtime

    svc, data_dir = own_servers
    await model.config(latency_ms=200, latency_jitter_ms=0)
    rt = await open_runtime(settings.model_copy(update={"database_url": svc.database_url,
                                                        "redis_url": svc.redis_url}))
    try:
        world = await make_world(rt, credits=100_000)
    finally:
        await rt.close()

    env = {**os.environ, "DATABASE_URL": svc.database_url, "REDIS_URL": svc.redis_url}
    api_port, metrics_ports = free_port(), (free_port(), free_port())
    api = start_app("api", ["serve", "--port", str(api_port)], env, LOGS, api_port)
    workers = [start_app(f"worker{i}", ["worker"], {**env, "WORKER_METRICS_PORT": str(port)}, LOGS,
                         port)
               for i, port in enumerate(metrics_ports, 1)]
    procs = [api, *workers]
    load = Load()
    outages: list[tuple[str, float, float]] = []  # (what, started, ended), wall clock
    try:
        await asyncio.gather(until_up(api, api.url + "/readyz"),
                             *(until_up(w, w.url + "/metrics") for w in workers))

        async def faults(start: float) -> None:
            await asyncio.sleep(max(0.0, start + PG_RESTART_AT - time.monotonic()))
            began = time.time()
            await _restart_postgres(svc, data_dir)
            outages.append(("postgres restart", began, time.time()))
            await asyncio.sleep(max(0.0, start + REDIS_KILL_AT - time.monotonic()))
            began = time.time()
            await _kill_redis_and_start_it_empty(svc, data_dir)
            outages.append(("redis killed, started empty", began, time.time()))

        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            start = time.monotonic()
            await asyncio.gather(
                faults(start),
                *(_customer(http, load, world.account_id, c, start + LOAD_S)
                  for c in range(CONVERSATIONS)),
            )
        total = sum(len(v) for v in load.sent.values())
        assert len(load.acked_at) == total  # every message was acknowledged in the end
        await _all_answered(svc.database_url, total, timeout=60)
        # Nothing exited on the way: not the API, not a worker.
        exited = {p.name: p.popen.poll() for p in procs if p.popen.poll() is not None}
        assert not exited, (exited, *(p.tail() for p in procs if p.name in exited))
    finally:
        stop_apps(procs)
        await model.config(latency_ms=0)

    conn = await asyncpg.connect(svc.database_url)
    try:
        inbound = await conn.fetch(
            "SELECT m.text, m.status, c.external_id FROM messages m "
            "JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id "
            "WHERE m.direction = 'inbound' ORDER BY c.external_id, m.seq")
        replies = await conn.fetch(
            "SELECT m.id, m.text, m.status, c.external_id FROM messages m "
            "JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id "
            "WHERE m.direction = 'outbound' ORDER BY c.external_id, m.seq")
        balance = await conn.fetchval("SELECT credit_balance FROM tenants")
        ledger = await conn.fetchval("SELECT sum(delta) FROM credit_ledger")
    finally:
        await conn.close()

    # Stored once each, in the order each customer sent them.
    stored: dict[str, list[str]] = defaultdict(list)
    for r in inbound:
        stored[r["external_id"]].append(r["text"])
    assert stored == load.sent
    assert {r["status"] for r in inbound} == {"answered"}
    # Answered once each, in order: the replies of a conversation cover its messages exactly.
    answered: dict[str, list[str]] = defaultdict(list)
    for r in replies:
        assert r["status"] in ("sent", "unknown"), r
        answered[r["external_id"]].extend(r["text"].removeprefix("[sandbox] ").split(" | "))
    assert answered == load.sent
    # Every reply reached the customer once: one accepted send each, none twice.
    sends = [s for s in await graph.requests(account_id=world.account_id) if s["status"] == 200]
    ours = [s["json"].get("biz_opaque_callback_data") for s in sends]
    assert sorted(ours) == sorted(str(r["id"]) for r in replies)
    assert balance == ledger == 100_000 - len(replies)

    send_times = sorted(s["ts"] for s in sends)
    sent_at = {s["json"].get("biz_opaque_callback_data"): s["ts"] for s in sends}
    answered_at = {text: sent_at[str(r["id"])] for r in replies
                   for text in r["text"].removeprefix("[sandbox] ").split(" | ")}
    print(f"\n{total} messages from {CONVERSATIONS} customers in {LOAD_S:.0f}s, "
          f"{len(replies)} replies, {len(load.refused)} webhook attempts not answered 200 "
          f"({', '.join(sorted(set(load.refused))) or 'none'})")
    for what, began, ended in outages:
        first = next(t for t in send_times if t > ended)
        backlog = [t for t, at in load.acked_at.items() if at <= ended]
        drained = max(answered_at[t] for t in backlog) - ended
        print(f"{what}: down {ended - began:.1f}s; first answer {first - ended:.2f}s after it "
              f"ended; all {len(backlog)} messages acknowledged by then answered within "
              f"{max(0.0, drained):.1f}s of its end")
