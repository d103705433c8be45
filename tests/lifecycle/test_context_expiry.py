"""Context expiry: after CONTEXT_TTL_DAYS idle, the next turn starts a fresh model context,
the history stays, and the boundary is a visible system message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import transaction
from app.models import Conversation
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.leads.helpers import new_conversation, say
from tests.meta import signed, wa_message, wa_webhook
from workers.lifecycle import expire_contexts

DAY = timedelta(days=1)


async def _post(client, account: str, text: str) -> None:
    raw, headers = signed(wa_webhook(account, [wa_message(text)]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text


async def test_idle_conversation_starts_a_fresh_context(client, runtime, worker, model, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await _post(client, world.account_id, "Hola, ¿precio del plan Pro?")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent'"))
    [before] = await db_rows(db, "SELECT id, context_response_id, last_activity_at FROM conversations")
    assert before["context_response_id"] is not None
    ctx = {"rt": runtime}
    now = datetime.now(UTC)

    assert await expire_contexts(ctx, now=now + 20 * DAY) == 0  # not idle long enough
    assert await expire_contexts(ctx, now=now + 22 * DAY) == 1
    assert await expire_contexts(ctx, now=now + 22 * DAY) == 0  # done once

    [conv] = await db_rows(db, "SELECT * FROM conversations")
    assert conv["context_response_id"] is None
    assert conv["context_start_seq"] == conv["last_seq"] == 3
    # The marker is not activity: the conversation keeps its place in "most recent first".
    assert conv["last_activity_at"] == before["last_activity_at"]
    msgs = await db_rows(db, "SELECT seq, direction, sender_role, type, status, text "
                          "FROM messages ORDER BY seq")
    assert [(m["direction"], m["status"]) for m in msgs] == [
        ("inbound", "answered"), ("outbound", "sent"), ("system", "recorded")]
    marker = msgs[2]
    assert (marker["sender_role"], marker["type"]) == ("system", "context_reset")
    assert marker["text"] == "Context reset after 21 idle days"

    await _post(client, world.account_id, "¿Y tienen descuento anual?")
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent' AND seq > 3"))
    fresh = (await model.requests())[-1]["body"]
    assert "previous_response_id" not in fresh
    # History is rebuilt from after the boundary only: just the new message.
    assert fresh["input"] == [{"role": "user", "content": "¿Y tienen descuento anual?"}]
    [after] = await db_rows(db, "SELECT context_response_id FROM conversations")
    assert after["context_response_id"] is not None  # the new context chains from here on


async def test_expiry_runs_in_batches_and_skips_archived_and_contextless(runtime, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    ids = [await new_conversation(runtime, world.channel_id, world.agent_id, f"52155000000{i}")
           for i in range(5)]
    for cid in ids:
        await say(runtime, cid, "Hola")
    async with transaction(runtime.sessions) as s:
        for cid in ids[:4]:
            conv = await s.get(Conversation, cid)
            assert conv is not None
            conv.context_response_id = f"resp_{cid.hex}"
        archived = await s.get(Conversation, ids[3])
        assert archived is not None
        archived.archived_at = datetime.now(UTC)
    # ids[4] never had a model context: nothing to expire.
    n = await expire_contexts({"rt": runtime}, now=datetime.now(UTC) + 22 * DAY, batch=2)
    assert n == 3
    reset = await db_rows(db, "SELECT conversation_id FROM messages WHERE type='context_reset'")
    assert {r["conversation_id"] for r in reset} == set(ids[:3])
    [kept] = await db_rows(db, "SELECT context_response_id FROM conversations WHERE id=$1", ids[3])
    assert kept["context_response_id"] is not None


async def test_context_reset_marker_needs_no_lead_extraction(runtime, model, test_env):
    from tests.leads.helpers import VALID, run_due

    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await say(runtime, cid, "Hola")
    await model.config(structured_output=VALID)
    now = datetime.now(UTC)
    assert await run_due(runtime, now + timedelta(minutes=6)) == {str(cid): "stored"}
    async with transaction(runtime.sessions) as s:
        conv = await s.get(Conversation, cid)
        assert conv is not None
        conv.context_response_id = "resp_old"
    assert await expire_contexts({"rt": runtime}, now=now + 22 * DAY) == 1
    # A new seq (the marker), but nothing anyone said: the pointer moves, the model is idle.
    assert await run_due(runtime, now + 22 * DAY) == {str(cid): "nothing_new"}
    assert len(await model.requests()) == 1
    [conv_row] = await db_rows(test_env["DATABASE_URL"],
                            "SELECT extracted_through_seq, last_seq FROM conversations")
    assert conv_row["extracted_through_seq"] == conv_row["last_seq"] == 2
