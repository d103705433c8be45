from __future__ import annotations

from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import signed, wa_message, wa_status, wa_webhook


async def test_text_webhook_is_answered_once_with_context_chain(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, credits=10, credits_per_reply=2, token="EAA-wa-token")
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola, precio?")]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1

    sends = await wait_for(lambda: graph.requests(account_id=world.account_id))
    assert len(sends) == 1
    send = sends[0]
    assert send["path"] == f"/v25.0/{world.account_id}/messages"
    assert send["authorization"] == "Bearer EAA-wa-token"
    assert send["json"]["to"] == "+5215512345678"
    assert send["json"]["text"]["body"] == "[sandbox] Hola, precio?"

    db = test_env["DATABASE_URL"]
    # The send is seen at Meta a moment before the worker commits its outcome.
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status = 'answered'"))
    msgs = await db_rows(db, "SELECT direction, status, text, seq FROM messages ORDER BY seq")
    assert [(m["direction"], m["status"]) for m in msgs] == [("inbound", "answered"),
                                                             ("outbound", "sent")]
    tenant = await db_rows(db, "SELECT credit_balance FROM tenants")
    assert tenant[0]["credit_balance"] == 8
    ledger = await db_rows(db, "SELECT sum(delta) AS s FROM credit_ledger")
    assert ledger[0]["s"] == 8

    first_response = (await model.requests())[0]["response_id"]
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("y el envio?")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    await wait_for(lambda: _count_sends(graph, world.account_id, 2))
    second = (await model.requests())[-1]
    assert second["body"]["previous_response_id"] == first_response
    assert second["body"]["instructions"] == "Be brief."


async def _count_sends(graph, account: str, n: int) -> bool:
    return len(await graph.requests(account_id=account)) >= n


async def test_redelivery_five_times_one_message_one_reply_one_debit(
    client, runtime, worker, graph, test_env
):
    world = await make_world(runtime, credits=10)
    body = wa_webhook(world.account_id, [wa_message("hi", wamid="wamid.SAME")])
    raw, headers = signed(body)
    for _ in range(5):
        assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    await wait_for(lambda: graph.requests(account_id=world.account_id))
    for _ in range(3):
        assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='answered'"))
    assert len(await graph.requests(account_id=world.account_id)) == 1
    assert len(await db_rows(db, "SELECT 1 FROM messages WHERE direction='inbound'")) == 1
    assert (await db_rows(db, "SELECT credit_balance FROM tenants"))[0]["credit_balance"] == 9


async def _sent_reply(client, world, graph, db: str) -> str:
    """A customer writes; the wamid of the reply, once it is stored as sent."""
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hi")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id))
    wamid: str = sends[0]["response"]["messages"][0]["id"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE provider_message_id=$1", wamid))
    return wamid


async def test_statuses_only_move_forward_and_keep_errors(client, runtime, worker, graph, test_env):
    world = await make_world(runtime)
    db = test_env["DATABASE_URL"]
    wamid = await _sent_reply(client, world, graph, db)

    async def post_status(status: str, **kw: object) -> None:
        raw, headers = signed(wa_webhook(world.account_id, statuses=[wa_status(wamid, status, **kw)]))
        assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    async def status() -> str:
        rows = await db_rows(db, "SELECT status FROM messages WHERE provider_message_id=$1", wamid)
        return str(rows[0]["status"])

    await post_status("read")
    assert await status() == "read"
    await post_status("delivered")
    assert await status() == "read"
    await post_status("failed", code=131047, title="Re-engagement message")
    assert await status() == "read"


async def test_failed_status_keeps_meta_code(client, runtime, worker, graph, test_env):
    world = await make_world(runtime)
    db = test_env["DATABASE_URL"]
    wamid = await _sent_reply(client, world, graph, db)
    raw, headers = signed(wa_webhook(world.account_id, statuses=[
        wa_status(wamid, "failed", code=131047, title="Re-engagement message")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    row = (await db_rows(db, "SELECT status, error_code, error_title, status_reason FROM messages "
                           "WHERE provider_message_id=$1", wamid))[0]
    assert (row["status"], row["error_code"], row["status_reason"]) == (
        "failed", "131047", "window_closed")
    assert row["error_title"] == "Re-engagement message"
