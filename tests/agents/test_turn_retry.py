"""Retrying a failed turn: the batch whose model call failed is answered again, in order, once,
and the eventual reply is charged exactly once (every failed attempt's credits are released)."""

from __future__ import annotations

import asyncio

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, seed_conversation
from tests.helpers import db_rows as rows
from tests.helpers import wait_for
from tests.meta import signed, wa_message, wa_webhook

RETRY = "mutation($id: ID!) { retryMessage(id: $id) { id status statusReason retryable } }"
MESSAGES = """query($id: ID!) { conversation(id: $id) { messages(first: 20) { edges { node {
  id seq direction text status statusReason retryable } } } } }"""


async def _inbound(db: str, status: str, n: int = 2) -> list:
    found = await rows(db, "SELECT id, conversation_id, status_reason FROM messages "
                           "WHERE direction='inbound' AND status=$1 ORDER BY seq", status)
    return found if len(found) == n else []


async def _money(db: str) -> tuple[int, int, list[int]]:
    [t] = await rows(db, "SELECT credit_balance FROM tenants")
    ledger = await rows(db, "SELECT delta FROM credit_ledger ORDER BY created_at")
    return int(t["credit_balance"]), sum(r["delta"] for r in ledger), [r["delta"] for r in ledger]


async def test_a_failed_turn_is_retried_in_order_and_charged_once(
    client, app, worker, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(app.state.runtime, credits=10, credits_per_reply=3)
    await model.config(fail_all={"status": 503})
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola"),
                                                         wa_message("¿Precio del plan?")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    first, second = await wait_for(lambda: _inbound(db, "failed"), timeout=8)
    assert first["status_reason"] == second["status_reason"] == "model_error"
    assert await _money(db) == (10, 10, [10, -3, 3])  # granted, reserved, released
    conv = str(first["conversation_id"])
    listed = ok(await gql(client, MESSAGES, {"id": conv}, key=world.api_key))
    nodes = [e["node"] for e in listed["conversation"]["messages"]["edges"]]
    assert [(n["text"], n["status"], n["retryable"]) for n in nodes] == [
        ("Hola", "FAILED", True), ("¿Precio del plan?", "FAILED", True)]

    # Attempt 1: the model is still down. The whole batch goes back, fails again, and the
    # attempt's reservation is released like the first one.
    await model.config(fail_all=None, fail=[{"status": 503}] * 3)
    retried = ok(await gql(client, RETRY, {"id": str(first["id"])}, key=world.api_key))
    assert retried["retryMessage"] == {"id": str(first["id"]), "status": "RECEIVED",
                                       "statusReason": None, "retryable": False}
    await wait_for(lambda: _reply_requests(model, 6))
    await wait_for(lambda: _inbound(db, "failed"), timeout=8)
    assert (await _money(db))[:2] == (10, 10)

    # Attempt 2, asked for twice at once (a double click): one re-queue, one model call, one
    # reply to both messages, in order.
    calls = len(await model.requests())
    answers = await asyncio.gather(*(
        gql(client, RETRY, {"id": str(second["id"])}, key=world.api_key) for _ in range(2)))
    assert sorted(tuple(codes(a)) for a in answers) == [(), ("VALIDATION",)]
    await wait_for(lambda: _inbound(db, "answered"), timeout=8)
    [reply] = await rows(db, "SELECT text, status, reply_to_seq FROM messages "
                             "WHERE direction='outbound'")
    assert (reply["text"], reply["status"], reply["reply_to_seq"]) == (
        "[sandbox] Hola | ¿Precio del plan?", "sent", 2)
    new_calls = (await model.requests())[calls:]
    assert [c["user_texts"] for c in new_calls] == [["Hola", "¿Precio del plan?"]]

    # Charged once for the reply: three reservations, two of them released.
    balance, ledger_sum, _ = await _money(db)
    assert (balance, ledger_sum) == (7, 7)
    reservations = await rows(db, "SELECT batch_key, state FROM credit_reservations "
                                  "ORDER BY created_at")
    assert [(r["batch_key"].removeprefix(f"{conv}:"), r["state"]) for r in reservations] == [
        ("2", "released"), ("2:r1", "released"), ("2:r2", "committed")]

    # Answered now: nothing left to retry.
    body = await gql(client, RETRY, {"id": str(first["id"])}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "answered" in body["errors"][0]["message"]


async def _reply_requests(model, n: int) -> bool:
    return len(await model.requests()) >= n


async def test_retry_is_refused_where_it_could_not_answer(client, app, test_env):
    db = test_env["DATABASE_URL"]
    rt = app.state.runtime
    world = await make_world(rt)
    other = await make_world(rt, name="Other")
    conv = await seed_conversation(rt, world, texts=("Hola",))
    [msg] = await rows(db, "SELECT id FROM messages WHERE conversation_id=$1", conv)

    body = await gql(client, RETRY, {"id": str(msg["id"])}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "received" in body["errors"][0]["message"]

    await rows(db, "UPDATE messages SET status='failed', status_reason='send_failed' "
                   "WHERE id=$1", msg["id"])
    body = await gql(client, RETRY, {"id": str(msg["id"])}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "retry the reply" in body["errors"][0]["message"]

    await rows(db, "UPDATE messages SET status_reason='breaker_open' WHERE id=$1", msg["id"])
    body = await gql(client, RETRY, {"id": str(msg["id"])}, key=other.api_key)
    assert codes(body) == ["NOT_FOUND"]
    ok(await gql(client, "mutation($id: ID!) { setConversationMode(id: $id, mode: HUMAN) { id } }",
                 {"id": str(conv)}, key=world.api_key))
    body = await gql(client, RETRY, {"id": str(msg["id"])}, key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "hand it back" in body["errors"][0]["message"]
    [still] = await rows(db, "SELECT status FROM messages WHERE id=$1", msg["id"])
    assert still["status"] == "failed"
