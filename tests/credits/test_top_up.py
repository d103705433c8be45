"""A top-up answers the customers that were skipped for lack of credits, in order, once."""

from __future__ import annotations

from typing import Any

from tests.factories import make_world
from tests.graphql.helpers import gql, ok
from tests.helpers import db_rows, wait_for
from tests.meta import post_text

GRANT = """mutation($t: ID!) { grantCredits(tenantId: $t, amount: 5, reason: "top-up") {
  creditBalance } }"""


async def _skipped(db: str, n: int) -> Any:
    rows = await db_rows(db, "SELECT text FROM messages WHERE status = 'skipped' "
                             "AND status_reason = 'no_credits'")
    return rows if len(rows) == n else None


async def test_a_top_up_answers_what_was_skipped_while_the_window_is_open(
    client, runtime, worker, graph, test_env, settings
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=1)
    await post_text(client, world.account_id, "q1", "5215500000001")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status = 'sent'"), timeout=10)
    await post_text(client, world.account_id, "q2", "5215500000001")
    await post_text(client, world.account_id, "q3", "5215500000001")
    await post_text(client, world.account_id, "late", "5215500000002")
    await wait_for(lambda: _skipped(db, 3), timeout=10)
    # The second customer's window closed meanwhile: a reply could not reach them.
    await db_rows(db, "UPDATE conversations SET last_inbound_at = now() - interval '25 hours' "
                      "WHERE id = (SELECT conversation_id FROM messages WHERE text = 'late')")

    balance = ok(await gql(client, GRANT, {"t": str(world.tenant_id)},
                           key=settings.admin_api_key))["grantCredits"]["creditBalance"]
    assert balance == 5
    await wait_for(lambda: _sent_texts(graph, world, 2), timeout=15)
    sends = await graph.requests(account_id=world.account_id)
    # One batch for the burst, in order; nothing for the closed window.
    assert [s["json"]["text"]["body"] for s in sends] == ["[sandbox] q1", "[sandbox] q2 | q3"]
    rows = await db_rows(db, "SELECT text, status, status_reason FROM messages "
                             "WHERE direction = 'inbound' ORDER BY text")
    assert [(r["text"], r["status"], r["status_reason"]) for r in rows] == [
        ("late", "skipped", "no_credits"), ("q1", "answered", None), ("q2", "answered", None),
        ("q3", "answered", None)]
    [tenant] = await db_rows(db, "SELECT credit_balance FROM tenants")
    assert tenant["credit_balance"] == 4

    # A second top-up answers nothing twice.
    ok(await gql(client, GRANT, {"t": str(world.tenant_id)}, key=settings.admin_api_key))
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM tenants WHERE credit_balance = 9"))
    assert len(await graph.requests(account_id=world.account_id)) == 2


async def test_a_tenant_can_leave_skipped_messages_alone(client, runtime, worker, graph, test_env,
                                                        settings):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=0)
    ok(await gql(client, "mutation { setAnswerAfterTopUp(enabled: false) }", key=world.api_key))
    await post_text(client, world.account_id, "hola", "5215500000003")
    await wait_for(lambda: _skipped(db, 1), timeout=10)
    ok(await gql(client, GRANT, {"t": str(world.tenant_id)}, key=settings.admin_api_key))
    assert await _skipped(db, 1)
    assert await graph.requests(account_id=world.account_id) == []


async def _sent_texts(graph: Any, world: Any, n: int) -> Any:
    sends = await graph.requests(account_id=world.account_id)
    return sends if len(sends) >= n else None
