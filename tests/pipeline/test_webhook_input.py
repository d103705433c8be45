from __future__ import annotations

import json

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_world
from tests.helpers import db_value
from tests.meta import fixture, sign, signed, wa_message, wa_status, wa_webhook


async def test_verification_handshake(client):
    ok = await client.get("/webhooks/meta", params={
        "hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    bad = await client.get("/webhooks/meta", params={
        "hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "x"})
    assert bad.status_code == 403
    assert (await client.get("/webhooks/meta")).status_code == 403


async def test_bad_input_is_refused_and_nothing_stored(client, runtime, test_env):
    world = await make_world(runtime)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hola")]))
    wrong = dict(headers, **{"X-Hub-Signature-256": sign(raw, "other-secret")})
    assert (await client.post("/webhooks/meta", content=raw, headers=wrong)).status_code == 401
    missing = {"Content-Type": "application/json"}
    assert (await client.post("/webhooks/meta", content=raw, headers=missing)).status_code == 401
    junk = b"not json{"
    r = await client.post("/webhooks/meta", content=junk, headers={"X-Hub-Signature-256": sign(junk)})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    big = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    r = await client.post("/webhooks/meta", content=big, headers={"X-Hub-Signature-256": sign(big)})
    assert r.status_code == 413
    raw, headers = signed(wa_webhook("999000111", [wa_message("who am I")]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["unknown_channel"] == 1
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0


async def test_non_ascii_body_signature_is_checked_over_raw_bytes(client, runtime, test_env):
    world = await make_world(runtime)
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("¿Cuánto cuesta? 🙂")]))
    assert b"\\u00bf" in raw  # Meta's escaping; re-serialising would break the signature
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["stored"] == 1


async def test_recorded_payloads_every_type(client, runtime, test_env):
    await make_world(runtime, account_id="123456789012345")
    body = fixture("whatsapp_all_types.json")
    raw = json.dumps(body).encode()
    r = await client.post("/webhooks/meta", content=raw, headers={"X-Hub-Signature-256": sign(raw)})
    assert r.status_code == 200, r.text
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT type, text, status, status_reason FROM messages ORDER BY seq")
        contact = await conn.fetchrow("SELECT * FROM contacts WHERE external_id = '5215512345678'")
        bsuid = await conn.fetchrow("SELECT * FROM contacts WHERE business_user_id IS NOT NULL "
                                    "AND wa_id IS NULL")
    finally:
        await conn.close()
    by_type = {r["type"]: r for r in rows}
    assert by_type["text"]["status"] == "received"
    assert by_type["interactive"]["text"] == "Option B (The second one)"
    assert by_type["button"]["text"] == "Yes, book it"
    assert by_type["image"]["text"] == "is this in stock?"
    assert by_type["location"]["text"] == "[Location shared] Zocalo; coordinates 19.43, -99.13"
    # Files are fetched by the worker; a type the agent cannot read gets its fallback reply
    # there: nothing a customer sends is met with silence.
    for t in ("sticker", "location", "unsupported", "audio", "order", "image"):
        assert by_type[t]["status"] == "received", t
    # Reactions are shown on the message they react to, not answered.
    assert by_type["reaction"]["status"] == "skipped"
    assert contact["profile_name"] == "Ana"
    assert bsuid["external_id"].startswith("US.")
    assert len([r for r in rows if r["type"] == "reaction"]) == 2  # add and remove are distinct


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["object", "entry", "changes", "value", "messages",
                                       "statuses", "metadata", "phone_number_id", "id", "from",
                                       "type", "text", "body", "messaging", "sender", "message",
                                       "mid", "timestamp", "errors", "contacts", "interactive"]),
                      children, max_size=6),
    max_leaves=30,
), obj=st.sampled_from(["whatsapp_business_account", "instagram", "other", None]))
async def test_generated_bodies_never_500(client, runtime, body, obj):
    if isinstance(body, dict) and obj is not None:
        body["object"] = obj
    raw = json.dumps(body).encode()
    r = await client.post("/webhooks/meta", content=raw, headers={"X-Hub-Signature-256": sign(raw)})
    assert r.status_code in (200, 400), r.text


async def test_oversized_identity_and_error_fields_never_500(client, runtime, test_env):
    world = await make_world(runtime)
    odd = wa_message("hola", sender="पन्ह पन्ह त्र र्च कृकृ ड्ड न्हृे إلا بسم الله" * 2)
    bsuid = wa_message("hola", extra={"from_user_id": "US." + "9" * 300})
    del bsuid["from"]

    status = wa_status("wamid.none", "failed", code=10**30, title="x" * 5000)
    raw, headers = signed(wa_webhook(world.account_id, [odd, bsuid], statuses=[status]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    # The message from a `from` that is no phone number cannot be answered and is not stored.
    assert r.json()["stored"] == 1 and r.json()["ignored"] >= 1
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        contact = await conn.fetchrow("SELECT external_id, business_user_id FROM contacts")
    finally:
        await conn.close()
    assert len(contact["external_id"]) == 128 and contact["business_user_id"] == contact["external_id"]
