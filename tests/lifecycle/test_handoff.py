"""Hand-off: an operator taking over while the model is thinking drops the AI reply and frees
its credits; handing back tells the model."""

from __future__ import annotations

import uuid

from app.ai.responses import HANDBACK_NOTE
from app.conversations.service import set_mode
from app.db import transaction
from app.effects import flush, take
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import signed, wa_message, wa_webhook


async def _post(client, account: str, text: str) -> None:
    raw, headers = signed(wa_webhook(account, [wa_message(text)]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text


async def _set_mode(runtime, tenant_id: uuid.UUID, cid: uuid.UUID, mode: str) -> None:
    async with transaction(runtime.sessions) as s:
        await set_mode(s, tenant_id, cid, mode)
    await flush(take(s), runtime.redis)


async def _balance(db: str) -> tuple[int, int]:
    [t] = await db_rows(db, "SELECT credit_balance FROM tenants")
    [ledger] = await db_rows(db, "SELECT coalesce(sum(delta), 0) AS s FROM credit_ledger")
    return int(t["credit_balance"]), int(ledger["s"])


async def test_takeover_during_model_call_drops_reply_and_releases_credits(
    client, runtime, worker, graph, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=10, credits_per_reply=3)
    # Long enough to switch to human mode while the model is still thinking, however busy the
    # machine.
    await model.config(latency_ms=2500)
    await _post(client, world.account_id, "Quiero hablar con una persona")

    # The model has the request and is "thinking": reserved credits are out of the balance.
    await wait_for(model.requests)
    [conv] = await db_rows(db, "SELECT id FROM conversations")
    assert await _balance(db) == (7, 7)
    await _set_mode(runtime, world.tenant_id, conv["id"], "human")

    [inbound] = await wait_for(lambda: db_rows(
        db, "SELECT status, status_reason FROM messages WHERE status='skipped'"))
    assert inbound["status_reason"] == "human_mode"
    assert await db_rows(db, "SELECT 1 FROM messages WHERE direction='outbound'") == []
    assert await graph.requests(account_id=world.account_id) == []
    assert await _balance(db) == (10, 10)
    [reservation] = await db_rows(db, "SELECT state FROM credit_reservations")
    assert reservation["state"] == "released"


async def test_handing_back_tells_the_model_once(client, runtime, worker, graph, model, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await _post(client, world.account_id, "Hola")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent'"))
    [conv] = await db_rows(db, "SELECT id FROM conversations")

    await _set_mode(runtime, world.tenant_id, conv["id"], "human")
    await _post(client, world.account_id, "¿Me atiende alguien?")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='skipped'"))
    assert len(await model.requests()) == 1  # no AI while an operator has it

    await _set_mode(runtime, world.tenant_id, conv["id"], "ai")
    await _post(client, world.account_id, "Gracias, ¿y el precio?")
    await wait_for(lambda: _sent(db, 2))
    handed = (await model.requests())[-1]["body"]
    assert {"role": "developer", "content": HANDBACK_NOTE} in handed["input"]
    assert handed["input"][-1] == {"role": "user", "content": "Gracias, ¿y el precio?"}
    [after] = await db_rows(db, "SELECT handed_back_at FROM conversations")
    assert after["handed_back_at"] is None

    await _post(client, world.account_id, "Perfecto")
    await wait_for(lambda: _sent(db, 3))
    following = (await model.requests())[-1]["body"]
    assert all(i.get("role") != "developer" for i in following["input"])


async def _sent(db: str, n: int) -> bool:
    return len(await db_rows(db, "SELECT 1 FROM messages WHERE status='sent'")) >= n
