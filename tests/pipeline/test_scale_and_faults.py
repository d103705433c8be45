"""Many conversations at once through real worker processes, with and without faults."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.factories import make_world
from tests.helpers import ROOT, start_app, stop_apps, wait_for
from tests.meta import deliver, signed, wa_message, wa_webhook
from workers.main import build_worker

CONVERSATIONS = 100
PER_CONVERSATION = 20
LOGS = ROOT / ".data" / "scale-and-faults"


async def _post_conversation(client, account: str, sender: str) -> None:
    for i in range(PER_CONVERSATION):
        # The same delivery until it is acknowledged, as Meta does: on a busy machine the
        # API's admission may refuse some of 100 concurrent webhooks with 503 + Retry-After.
        raw, headers = signed(wa_webhook(account, [wa_message(f"{sender}-{i}", sender=sender)]))
        r = await deliver(client, raw, headers)
        assert r.status_code == 200, r.text


async def _settled(db: str, total: int, timeout: float) -> float:
    conn = await asyncpg.connect(db)
    start = time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            done = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction='inbound' "
                "AND status NOT IN ('received','processing')")
            if done >= total:
                return time.monotonic() - start
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    raise AssertionError("messages still pending after the timeout")


async def _in_flight(db: str) -> set[object]:
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch("SELECT id FROM messages WHERE status='processing'")
        return {r[0] for r in rows}
    finally:
        await conn.close()


def _recovery_bound(settings: Any) -> float:
    """How long the messages in flight at a fault may take to settle, from what they wait for.

    Their batches are picked up again once the dead holder's lease lapses (LOCK_TTL_MS) and a
    sweep finds them old enough (SWEEPER_INTERVAL_S + SWEEPER_MIN_AGE_S); then they queue behind
    the other conversations, which a machine running another suite beside this one makes slow
    by any amount. So the bound is generous for that queue, and far below the one wait the
    recovery must not be: arq's in-progress expiry of a dead worker's job (the longest job
    timeout + 10 s, 30 minutes here).
    """
    lease_and_sweep = settings.lock_ttl_ms / 1000 + settings.sweeper_interval_s \
        + settings.sweeper_min_age_s
    bound = lease_and_sweep + 120.0
    assert bound < build_worker(settings, handle_signals=False).in_progress_timeout_s / 2
    return bound


async def _recovery_seconds(db: str, messages: set[object], since: float, bound: float) -> float:
    """How long after the fault the messages in flight at that moment took to settle."""
    conn = await asyncpg.connect(db)
    try:
        while True:
            left = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE status='processing' AND id = ANY($1::uuid[])",
                list(messages))
            if not left:
                return time.monotonic() - since
            if time.monotonic() - since > bound:
                raise AssertionError(f"{left} messages still processing {bound:.0f} s after the fault")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("fault", ["none", "sigkill", "flushall"])
async def test_two_thousand_messages_answered_once_in_order(client, runtime, graph, model, test_env, fault):
    await model.config(latency_ms=0, latency_jitter_ms=200)
    world = await make_world(runtime, credits=100_000)
    workers = [start_app(f"worker{i}", ["worker"], {}, LOGS) for i in (1, 2)]
    senders = [f"52155{n:08d}" for n in range(CONVERSATIONS)]
    db = test_env["DATABASE_URL"]
    recovery = 0.0
    try:
        posting = asyncio.gather(*(_post_conversation(client, world.account_id, s) for s in senders))
        if fault != "none":
            # Strike while both workers are busy, so the fault cuts batches in half.
            async def busy() -> set[object] | None:
                held = await _in_flight(db)
                return held if len(held) >= 10 else None

            held: set[object] = await wait_for(busy, timeout=60, interval=0.1)
            faulted_at = time.monotonic()
            if fault == "sigkill":
                workers[0].popen.send_signal(signal.SIGKILL)
            else:
                redis = Redis.from_url(test_env["REDIS_URL"])
                await redis.flushall()
                await redis.aclose()
            recovery = await _recovery_seconds(db, held, faulted_at, _recovery_bound(runtime.settings))
            # Reported, not raced: the time depends on the machine's load as much as on the code.
            print(f"{fault}: {len(held)} messages in flight settled {recovery:.1f}s after it "
                  f"(lease {runtime.settings.lock_ttl_ms / 1000:.0f}s, sweep every "
                  f"{runtime.settings.sweeper_interval_s}s)")
        await posting
        await _settled(db, CONVERSATIONS * PER_CONVERSATION, 180)
    finally:
        stop_apps(workers, timeout=15)

    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        inbound = await conn.fetch(
            "SELECT c.id, m.seq, m.text, m.status FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE m.direction='inbound' ORDER BY c.id, m.seq")
        replies = await conn.fetch(
            "SELECT conversation_id, seq, text, status, id FROM messages "
            "WHERE direction='outbound' ORDER BY conversation_id, seq")
        balance = await conn.fetchval("SELECT credit_balance FROM tenants")
        ledger = await conn.fetchval("SELECT sum(delta) FROM credit_ledger")
    finally:
        await conn.close()

    assert len(inbound) == CONVERSATIONS * PER_CONVERSATION  # none lost, none duplicated
    assert {r["status"] for r in inbound} == {"answered"}
    covered: dict[object, list[str]] = defaultdict(list)
    for r in replies:
        assert r["status"] in ("sent", "unknown"), r
        covered[r["conversation_id"]].extend(r["text"].removeprefix("[sandbox] ").split(" | "))
    expected: dict[object, list[str]] = defaultdict(list)
    for r in inbound:
        expected[r["id"]].append(r["text"])
    bad = [cid for cid in expected if covered[cid] != expected[cid]]
    for cid in bad[:3]:  # shown on failure: which messages each reply covered
        print("expected", expected[cid], "\ncovered ", covered[cid])
    fifo_violations = len(bad)
    assert fifo_violations == 0  # every inbound answered exactly once, in order
    sends = await graph.requests(account_id=world.account_id)
    ours = [s["json"].get("biz_opaque_callback_data") for s in sends if s["status"] == 200]
    assert len(ours) == len(set(ours))  # no reply ever sent twice
    sent_ids = {str(r["id"]) for r in replies if r["status"] == "sent"}
    assert sent_ids <= set(ours)
    assert balance == ledger == 100_000 - len(replies)
