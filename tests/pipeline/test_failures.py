from __future__ import annotations

import asyncio

from app.pipeline.breaker import CircuitBreaker
from tests.factories import make_world
from tests.helpers import db_row, db_rows, sweeps, wait_for
from tests.meta import signed, wa_message, wa_webhook


async def _send(client, world, text: str = "hola") -> None:
    raw, headers = signed(wa_webhook(world.account_id, [wa_message(text)]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200


async def _reply(db: str, status: str):
    return await db_row(db, f"SELECT * FROM messages WHERE direction='outbound' AND status='{status}'")


async def test_graph_5xx_then_success_is_one_reply(client, runtime, worker, graph, test_env):
    world = await make_world(runtime, credits=5)
    await graph.script([{"status": 500}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: _reply(db, "sent"))
    reqs = await graph.requests(account_id=world.account_id)
    assert [r["status"] for r in reqs] == [500, 200]
    assert (await db_row(db, "SELECT credit_balance FROM tenants"))["credit_balance"] == 4


async def test_window_closed_is_failed_without_retry(client, runtime, worker, graph, test_env):
    world = await make_world(runtime, credits=5)
    await graph.script([{"status": 400, "code": 131047, "title": "Re-engagement message"}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    reply = await wait_for(lambda: _reply(db, "failed"))
    assert reply["status_reason"] == "window_closed" and reply["error_code"] == "131047"
    assert len(await graph.requests(account_id=world.account_id)) == 1
    assert (await db_row(db, "SELECT credit_balance FROM tenants"))["credit_balance"] == 5
    inbound = await db_row(db, "SELECT status FROM messages WHERE direction='inbound'")
    assert inbound["status"] == "failed"


async def test_expired_token_marks_channel_needs_reauth(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime)
    await graph.script([{"status": 401, "code": 190, "title": "Access token has expired"}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: _reply(db, "failed"))
    ch = await db_row(db, "SELECT status FROM channels")
    assert ch["status"] == "needs_reauth"
    # Until the token is replaced, messages are kept but cost no model call and no send.
    calls = len(await model.requests())
    await _send(client, world, "still there?")
    row = await wait_for(lambda: db_row(db, "SELECT status_reason FROM messages WHERE "
                                          "text = 'still there?' AND status = 'skipped'"))
    assert row["status_reason"] == "needs_reauth"
    assert len(await model.requests()) == calls
    assert len(await graph.requests(account_id=world.account_id)) == 1


async def test_a_failing_number_does_not_open_the_breaker_of_another(
    client, runtime, worker, graph, test_env
):
    broken = await make_world(runtime, name="Broken")
    healthy = await make_world(runtime, name="Healthy")
    await graph.script([{"status": 500, "match_account": broken.account_id}] * 30)
    db = test_env["DATABASE_URL"]
    for i in range(3):
        await _send(client, broken, f"b{i}")
        await wait_for(lambda: db_row(db, "SELECT 1 FROM messages WHERE direction='inbound' AND "
                                        "status IN ('received','processing') HAVING count(*) = 0"))
    await _send(client, healthy, "h")
    sends = await wait_for(lambda: graph.requests(account_id=healthy.account_id))
    assert sends[0]["status"] == 200


async def test_throughput_limit_is_retried(client, runtime, worker, graph, test_env):
    world = await make_world(runtime)
    await graph.script([{"status": 400, "code": 130429, "title": "Rate limit hit"}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: _reply(db, "sent"))
    assert len(await graph.requests(account_id=world.account_id)) == 2


async def test_send_timeout_becomes_unknown_and_is_never_resent(
    client, runtime, worker, graph, test_env
):
    world = await make_world(runtime, credits=3)
    await graph.script([{"drop": True, "delay_ms": 5000}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: _reply(db, "unknown"))
    # What could send it again is the sweeper (lost sends): it has looked at it twice since.
    await sweeps(runtime.redis, 2)
    assert len(await graph.requests(account_id=world.account_id)) <= 1
    inbound = await db_row(db, "SELECT status FROM messages WHERE direction='inbound'")
    assert inbound["status"] == "answered"


async def test_model_down_retries_then_fails_and_releases_credits(
    client, runtime, worker, model, graph, test_env
):
    world = await make_world(runtime, credits=5)
    await model.config(fail_all={"status": 503})
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    inbound = await wait_for(
        lambda: db_row(db, "SELECT * FROM messages WHERE direction='inbound' AND status='failed'"))
    assert inbound["status_reason"] == "model_error"
    assert len(await model.requests()) == 3  # the SDK's retries with backoff
    assert not await graph.requests(account_id=world.account_id)
    assert (await db_row(db, "SELECT credit_balance FROM tenants"))["credit_balance"] == 5
    ledger = await db_row(db, "SELECT sum(delta) s, count(*) n FROM credit_ledger")
    assert ledger["s"] == 5 and ledger["n"] == 3  # grant, reserve, release


async def test_model_failed_status_at_http_200_is_a_failure(client, runtime, worker, model, test_env):
    world = await make_world(runtime, credits=5)
    await model.config(fail=[{"status": 200, "failed": True}])
    await _send(client, world)
    db = test_env["DATABASE_URL"]
    inbound = await wait_for(
        lambda: db_row(db, "SELECT * FROM messages WHERE direction='inbound' AND status='failed'"))
    assert inbound["status_reason"] == "model_failed"


async def test_lost_context_chain_is_rebuilt_from_history(client, runtime, worker, model, graph, test_env):
    world = await make_world(runtime)
    await _send(client, world, "first question")
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: _reply(db, "sent"))
    await model.forget()
    await _send(client, world, "second question")
    await wait_for(lambda: _count_sent(db, 2))
    reqs = await model.requests()
    rebuilt = reqs[-1]["body"]
    assert "previous_response_id" not in rebuilt
    assert [i["content"] for i in rebuilt["input"]] == [
        "first question", "[sandbox] first question", "second question"]


async def _count_sent(db: str, n: int) -> bool:
    row = await db_row(db, "SELECT count(*) c FROM messages WHERE direction='outbound' AND status='sent'")
    return bool(row and row["c"] >= n)


def test_breaker_opens_and_closes():
    b = CircuitBreaker("t", threshold=3, reset_s=0.05)
    for _ in range(3):
        b.check()
        b.failure()
    assert b.state == "open"
    try:
        b.check()
        raise AssertionError("breaker should fail fast")
    except Exception as exc:
        assert "open" in str(exc)
    import time

    time.sleep(0.06)
    assert b.state == "half_open"
    b.check()
    b.failure()
    assert b.state == "open"
    time.sleep(0.06)
    b.check()
    b.success()
    assert b.state == "closed"


async def test_model_breaker_fails_fast_then_recovers(client, runtime, worker, model, test_env):
    world = await make_world(runtime, credits=50)
    await model.config(fail_all={"status": 500, "retry": False})
    db = test_env["DATABASE_URL"]
    for i in range(7):
        await _send(client, world, f"m{i}")
        await wait_for(lambda: db_row(db, "SELECT 1 FROM messages WHERE status IN "
                                        "('received','processing') HAVING count(*) = 0"))
    reasons = [r[0] for r in await db_rows(
        db, "SELECT status_reason FROM messages WHERE direction='inbound' ORDER BY seq")]
    assert "breaker_open" in reasons  # after 5 failures the model is not called at all
    calls_while_open = len(await model.requests())
    assert calls_while_open < 7 * 3
    await model.config(fail_all=None)
    await asyncio.sleep(1.1)  # BREAKER_RESET_S=1 in tests
    await _send(client, world, "after recovery")
    await wait_for(lambda: _reply(db, "sent"))
