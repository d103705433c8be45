"""The 24-hour window: outside it, free-form sends are refused before Meta is called.
(The API's refusal with a GraphQL error is tested with the GraphQL mutations.)"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.conversations.service import add_message
from app.db import transaction
from app.effects import flush, take
from app.models import Conversation
from app.pipeline.send import send_message
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.leads.helpers import new_conversation, say
from tests.meta import signed, wa_message, wa_webhook


async def _operator_message(runtime, cid: uuid.UUID, last_inbound_at: datetime) -> str:
    """A pending operator reply, stored as the API stores it, with the window set as given."""
    async with transaction(runtime.sessions) as s:
        await s.execute(update(Conversation).where(Conversation.id == cid)
                        .values(last_inbound_at=last_inbound_at, mode="human"))
        conv = await s.get(Conversation, cid)
        assert conv is not None
        msg = await add_message(s, conv, direction="outbound", sender_role="operator",
                                type="text", text="Le escribo por su pedido", status="pending")
    await flush(take(s), runtime.redis)
    return str(msg.id)


async def test_operator_send_outside_window_fails_without_calling_meta(runtime, graph, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    late = await new_conversation(runtime, world.channel_id, world.agent_id, "5215500000001")
    fresh = await new_conversation(runtime, world.channel_id, world.agent_id, "5215500000002")
    for cid in (late, fresh):
        await say(runtime, cid, "Hola")
    now = datetime.now(UTC)
    closed = await _operator_message(runtime, late, now - timedelta(hours=24, minutes=1))
    open_ = await _operator_message(runtime, fresh, now - timedelta(hours=23, minutes=59))

    assert await send_message({"rt": runtime}, closed) == "window_closed"
    [row] = await db_rows(db, "SELECT status, status_reason FROM messages WHERE id=$1",
                       uuid.UUID(closed))
    assert (row["status"], row["status_reason"]) == ("failed", "window_closed")
    assert await graph.requests(account_id=world.account_id) == []

    # Inside the window the same send goes out: the refusal above is the window's doing.
    assert await send_message({"rt": runtime}, open_) == "sent"
    sends = await graph.requests(account_id=world.account_id)
    assert [s["json"]["to"] for s in sends] == ["+5215500000002"]


async def test_ai_reply_outside_window_is_skipped_without_calling_meta(
    client, runtime, worker, graph, model, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=5)
    # Meta redelivers a message a day late: answering it now would be outside the window.
    old = str(int(time.time()) - 25 * 3600)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("Hola", extra={"timestamp": old})]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    [msg] = await wait_for(lambda: db_rows(db, "SELECT status, status_reason FROM messages "
                                            "WHERE status='skipped'"))
    assert msg["status_reason"] == "window_closed"
    assert await graph.requests(account_id=world.account_id) == []
    assert await model.requests() == []
    [tenant] = await db_rows(db, "SELECT credit_balance FROM tenants")
    assert tenant["credit_balance"] == 5
