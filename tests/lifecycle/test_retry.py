"""Retrying a failed AI reply: sent again as the same message, no new model call, charged
exactly once however often the retry job runs."""

from __future__ import annotations

from app.conversations.outbox import enqueue_sends, retry_message
from app.db import transaction
from app.pipeline.send import send_message
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import signed, wa_message, wa_webhook


async def _balance(db: str) -> tuple[int, int]:
    [t] = await db_rows(db, "SELECT credit_balance FROM tenants")
    [ledger] = await db_rows(db, "SELECT coalesce(sum(delta), 0) AS s FROM credit_ledger")
    return int(t["credit_balance"]), int(ledger["s"])


async def _reply(db: str, status: str) -> list:
    return await db_rows(db, "SELECT id, status, text FROM messages "
                          "WHERE direction='outbound' AND status=$1", status)


async def test_retry_sends_once_and_debits_once(client, runtime, worker, graph, model, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=10, credits_per_reply=3)
    await graph.script([{"status": 500}] * 3)  # every attempt of the pipeline fails
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    [failed] = await wait_for(lambda: _reply(db, "failed"))
    assert await _balance(db) == (10, 10)  # the failed reply's credits were released
    assert len(await graph.requests(account_id=world.account_id)) == 3

    async with transaction(runtime.sessions) as s:
        await retry_message(s, world.tenant_id, failed["id"])
    await enqueue_sends(s, runtime.redis)
    # The same retry job delivered twice (arq is at least once): still one send, one debit.
    await runtime.redis.enqueue_job("send_message", str(failed["id"]))
    [sent] = await wait_for(lambda: _reply(db, "sent"))
    assert (sent["id"], sent["text"]) == (failed["id"], failed["text"])
    assert await send_message({"rt": runtime}, str(failed["id"])) == "not_pending"

    sends = await graph.requests(account_id=world.account_id)
    assert [s["status"] for s in sends] == [500, 500, 500, 200]
    assert len(await model.requests()) == 1  # no new model call
    assert await _balance(db) == (7, 7)
    retry_debits = await db_rows(db, "SELECT delta FROM credit_ledger WHERE idempotency_key LIKE "
                                  "'retry:%'")
    assert [r["delta"] for r in retry_debits] == [-3]
