"""Lead extraction: the idle rule, ranges, events, and invalid answers (fake model in
structured-output mode; the clock is passed in, nothing sleeps for minutes)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import Redis

from app.realtime.topics import tenant_topic
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.leads.helpers import VALID, new_conversation, run_due, say
from workers.leads import INVALID_LIMIT, scan_lead_extraction

MIN = timedelta(minutes=1)


async def test_extracts_after_idle_time_once_per_new_range(runtime, model, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await model.config(structured_output=VALID)
    await say(runtime, cid, "Hola, soy Ana de Acme. Necesito 40 licencias.")
    await say(runtime, cid, "Con gusto. ¿Agendamos una demo?", role="ai")
    t0 = datetime.now(UTC)

    # Not before the conversation has been quiet for EXTRACTION_IDLE_MINUTES (5).
    assert await run_due(runtime, t0 + 4 * MIN) == {}
    assert await model.requests() == []

    redis = Redis.from_url(test_env["REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(tenant_topic(str(world.tenant_id)))
    try:
        assert await run_due(runtime, t0 + 6 * MIN) == {str(cid): "stored"}
        event = await _next_event(pubsub, "ConversationUpdated")
    finally:
        await pubsub.aclose()
        await redis.aclose()
    assert event["change"] == "lead" and event["conversationId"] == str(cid)

    [lead] = await db_rows(db, "SELECT * FROM leads")
    assert (lead["from_seq"], lead["to_seq"]) == (1, 2)
    assert str(lead["id"]) == event["leadId"]
    assert (lead["name"], lead["email"], lead["company"]) == ("Ana López", "ana@acme.mx", "Acme")
    assert (lead["urgency"], lead["budget"], lead["fit"], lead["engagement"]) == (3, 2, 3, 2)
    assert lead["demo_at"] == datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
    assert lead["demo_timezone"] == "America/Mexico_City"
    assert lead["model"] == "gpt-4.1-mini"
    [conv] = await db_rows(db, "SELECT extracted_through_seq FROM conversations")
    assert conv["extracted_through_seq"] == 2

    [request] = await model.requests()
    body = request["body"]
    fmt = body["text"]["format"]
    assert (fmt["type"], fmt["strict"]) == ("json_schema", True)
    assert fmt["schema"]["additionalProperties"] is False
    assert set(fmt["schema"]["required"]) == set(VALID)
    assert body["model"] == "gpt-4.1-mini"  # the conversation's agent's model
    transcript = request["user_texts"][0]
    assert "Customer: Hola, soy Ana de Acme" in transcript
    assert "Assistant: Con gusto" in transcript

    # Quiet for longer, but nothing new: no model call.
    assert await run_due(runtime, t0 + 30 * MIN) == {}
    assert len(await model.requests()) == 1

    # New messages: wait for quiet again, then extract only the new range.
    await say(runtime, cid, "Mi correo es ana@acme.mx")
    t1 = datetime.now(UTC)
    assert await run_due(runtime, t1 + 4 * MIN) == {}
    assert await run_due(runtime, t1 + 6 * MIN) == {str(cid): "stored"}
    leads = await db_rows(db, "SELECT from_seq, to_seq FROM leads ORDER BY created_at")
    assert [(r["from_seq"], r["to_seq"]) for r in leads] == [(1, 2), (3, 3)]
    second = (await model.requests())[-1]
    previous = [i for i in second["body"]["input"] if i["role"] == "developer"]
    assert previous and '"company": "Acme"' in previous[0]["content"]
    assert "--- new since the previous extraction ---\n" in second["user_texts"][0]
    assert second["user_texts"][0].rstrip().endswith("Customer: Mi correo es ana@acme.mx")


async def _next_event(pubsub, kind: str) -> dict:
    async def one():
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is None:
            return None
        event = orjson.loads(msg["data"])
        return event if event.get("type") == kind else None

    return await wait_for(one)


async def test_scan_enqueues_jobs_that_the_worker_runs(runtime, worker, model, test_env):
    world = await make_world(runtime)
    quiet = await new_conversation(runtime, world.channel_id, world.agent_id, "5215500000001")
    busy = await new_conversation(runtime, world.channel_id, world.agent_id, "5215500000002")
    await say(runtime, quiet, "Quiero una demo")
    t0 = datetime.now(UTC)
    ctx = {"rt": runtime}
    assert await scan_lead_extraction(ctx, now=t0 + 6 * MIN) == 1
    # The same work is never enqueued twice while it is pending or done.
    assert await scan_lead_extraction(ctx, now=t0 + 6 * MIN) == 0
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM leads WHERE conversation_id=$1", quiet))
    # A conversation with no messages at all is never due.
    assert await db_rows(db, "SELECT 1 FROM leads WHERE conversation_id=$1", busy) == []
    assert len(await model.requests()) == 1


@pytest.mark.parametrize("answer", [
    pytest.param({"structured_output": {**VALID, "urgency": 7}}, id="score-out-of-range"),
    pytest.param({"structured_output": {**VALID, "email": "call me"}}, id="not-an-email"),
    pytest.param({"structured_output": {**VALID, "demo_at": "2026-12-02T15:00:00"}},
                 id="naive-datetime"),
    pytest.param({"structured_output": {**VALID, "demo_timezone": "America/Mexico_Cty"}},
                 id="unknown-zone"),
    pytest.param({"structured_output": {k: v for k, v in VALID.items() if k != "fit"}},
                 id="missing-field"),
    pytest.param({"structured_output": {**VALID, "extra": 1}}, id="extra-field"),
    pytest.param({"raw_output_text": "not json"}, id="not-json"),
    pytest.param({"raw_output_text": json.dumps(VALID)[:40]}, id="truncated-json"),
])
async def test_invalid_answer_stores_nothing_and_is_retried_next_interval(
    runtime, model, test_env, answer
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await say(runtime, cid, "Hola", "Soy Ana")
    t0 = datetime.now(UTC)
    await model.config(**answer)

    assert await run_due(runtime, t0 + 6 * MIN) == {str(cid): "invalid_output"}
    assert await db_rows(db, "SELECT 1 FROM leads") == []
    [conv] = await db_rows(db, "SELECT extracted_through_seq FROM conversations")
    assert conv["extracted_through_seq"] == 0

    # The next interval tries again; this time the model answers well.
    await model.config(structured_output=VALID, raw_output_text=None)
    assert await run_due(runtime, t0 + 7 * MIN) == {str(cid): "stored"}
    assert len(await db_rows(db, "SELECT 1 FROM leads")) == 1
    assert len(await model.requests()) == 2


async def test_repeated_invalid_answers_pause_until_new_messages(runtime, model, test_env):
    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await say(runtime, cid, "Hola")
    t0 = datetime.now(UTC)
    await model.config(raw_output_text="{}")
    for minute in range(INVALID_LIMIT):
        assert await run_due(runtime, t0 + (6 + minute) * MIN) == {str(cid): "invalid_output"}
    # Given up on this range: no more model calls every minute.
    assert await run_due(runtime, t0 + 30 * MIN) == {}
    assert len(await model.requests()) == INVALID_LIMIT

    await model.config(raw_output_text=None, structured_output=VALID)
    await say(runtime, cid, "¿Siguen ahí?")
    t1 = datetime.now(UTC)
    assert await run_due(runtime, t1 + 6 * MIN) == {str(cid): "stored"}
    [lead] = await db_rows(test_env["DATABASE_URL"], "SELECT from_seq, to_seq FROM leads")
    assert (lead["from_seq"], lead["to_seq"]) == (1, 2)


async def test_model_outage_stores_nothing_and_does_not_count_as_invalid(
    runtime, model, test_env
):
    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await say(runtime, cid, "Hola")
    t0 = datetime.now(UTC)
    await model.config(fail_all={"status": 503})
    assert await run_due(runtime, t0 + 6 * MIN) == {str(cid): "model_error"}
    assert await db_rows(test_env["DATABASE_URL"], "SELECT 1 FROM leads") == []
    assert await runtime.redis.keys("mca:lead:invalid:*") == []
    await model.config(fail_all=None, structured_output=VALID)
    assert await run_due(runtime, t0 + 7 * MIN) == {str(cid): "stored"}


async def test_generated_schema_answer_is_valid(runtime, model, test_env):
    """The sandbox model (no structured_output configured) answers from the schema alone;
    that answer must pass validation, or `mca run` without an OpenAI key never shows leads."""
    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    await say(runtime, cid, "Hola")
    assert await run_due(runtime, datetime.now(UTC) + 6 * MIN) == {str(cid): "stored"}


async def test_stale_job_after_new_activity_does_nothing(runtime, model, test_env):
    from workers.leads import extract_lead

    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    seq = await say(runtime, cid, "Hola")
    await say(runtime, cid, "¿Hay alguien?")  # arrived after the scan chose seq
    outcome = await extract_lead({"rt": runtime}, str(cid), seq, now=datetime.now(UTC))
    assert outcome == "stale"
    assert await model.requests() == []


async def test_concurrent_runs_over_one_range_store_one_lead(runtime, model, test_env):
    from workers.leads import extract_lead

    world = await make_world(runtime)
    cid = await new_conversation(runtime, world.channel_id, world.agent_id)
    seq = await say(runtime, cid, "Hola")
    await model.config(structured_output=VALID, latency_ms=200)
    ctx = {"rt": runtime}
    outcomes = await asyncio.gather(*(extract_lead(ctx, str(cid), seq) for _ in range(3)))
    assert sorted(outcomes) == ["raced", "raced", "stored"]
    assert len(await db_rows(test_env["DATABASE_URL"], "SELECT 1 FROM leads")) == 1
