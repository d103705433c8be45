"""Answers the spec documents but generated requests cannot reach (a 3 MB body, a backlog, a
database that is down, a spent rate limit), sent for real and held to the same checks as the
schemathesis run; and the regression that run found."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
from schemathesis.checks import not_a_server_error

from app.webchat.guard import RATE_WINDOW_S
from tests.factories import make_world
from tests.helpers import free_port, in_one_window, wait_for
from tests.meta import sign, signed, wa_message, wa_webhook
from tests.ops.test_openapi import CHECKS, ORIGIN, schema

# For the answers that are meant to be a 503: everything but "no 5xx".
CONFORMANCE = [c for c in CHECKS if c is not not_a_server_error]


def _call(method: str, path: str, base_url: str, checks: list[Any] = CHECKS, **case: Any) -> Any:
    """One request through schemathesis, validated against the spec; the response."""
    kwargs = case.pop("kwargs", {})
    c = schema[path][method].Case(**case)
    return c.call_and_validate(base_url=base_url, checks=checks, timeout=10, **kwargs)


async def test_a_nul_character_in_a_webhook_is_stored_without_it(live, runtime, test_env):
    """Found by schemathesis: `\\u0000` in a signed body was a 500 (PostgreSQL text and jsonb
    cannot hold it), which Meta would have redelivered for days."""
    world = await make_world(runtime)
    wamid = f"wamid.{uuid.uuid4().hex}"
    msg = wa_message("ho\x00la", wamid=wamid, extra={"context": {"note": "\x00"}})
    raw, headers = signed(wa_webhook(world.account_id, [msg], name="A\x00na"))
    assert b"\\u0000" in raw
    r = await asyncio.to_thread(_call, "POST", "/webhooks/meta", live.url, headers=headers,
                                kwargs={"data": raw})
    assert r.status_code == 200 and r.json()["stored"] == 1
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        row = await conn.fetchrow("SELECT text, raw FROM messages WHERE provider_message_id = $1",
                                  wamid)
    finally:
        await conn.close()
    assert row["text"] == "hola"
    assert json.loads(row["raw"])["context"] == {"note": ""}


async def test_an_escaped_backslash_before_u0000_is_text_not_nul(live, runtime, test_env):
    world = await make_world(runtime)
    wamid = f"wamid.{uuid.uuid4().hex}"
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("C:\\u0000dir", wamid=wamid)]))
    r = await asyncio.to_thread(_call, "POST", "/webhooks/meta", live.url, headers=headers,
                                kwargs={"data": raw})
    assert r.status_code == 200
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        text = await conn.fetchval("SELECT text FROM messages WHERE provider_message_id = $1", wamid)
    finally:
        await conn.close()
    assert text == "C:\\u0000dir"


async def test_webhook_body_over_3_mb_is_413(live):
    raw = b'{"object": "whatsapp_business_account", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = await asyncio.to_thread(_call, "POST", "/webhooks/meta", live.url,
                                headers={"X-Hub-Signature-256": sign(raw),
                                         "Content-Type": "application/json"},
                                kwargs={"data": raw})
    assert r.status_code == 413


async def test_backpressure_is_503_with_retry_after(settings, runtime, serve):
    world = await make_world(runtime)
    server = serve(settings.model_copy(update={"queue_max_pending": 1}))
    first, headers = signed(wa_webhook(world.account_id, [wa_message("one")]))
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/webhooks/meta", content=first, headers=headers)).status_code == 200

    async def refused() -> Any:
        # The pending count is cached for a second: poll until it has seen the first one.
        raw, h = signed(wa_webhook(world.account_id, [wa_message("more")]))
        r = await asyncio.to_thread(_call, "POST", "/webhooks/meta", server.url, CONFORMANCE,
                                    headers=h, kwargs={"data": raw})
        return r if r.status_code == 503 else None

    r = await wait_for(refused, interval=0.3)
    assert int(r.headers["retry-after"][0]) > 0


async def test_readyz_is_503_in_the_error_shape_when_postgres_is_down(settings, serve):
    down = f"postgresql://nobody:x@127.0.0.1:{free_port()}/nothing"
    server = serve(settings.model_copy(update={"database_url": down}))
    r = await asyncio.to_thread(_call, "GET", "/readyz", server.url, CONFORMANCE,
                                headers={"X-Correlation-ID": "ready-check-1"})
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["postgres"] and body["code"] == "UNAVAILABLE"
    assert body["correlationId"] == "ready-check-1"


async def test_widget_rate_limit_and_oversized_body(live, runtime, settings):
    chat = await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})
    async with httpx.AsyncClient(base_url=live.url, headers={"Origin": ORIGIN}) as http:
        token = (await http.post(f"/widget/{chat.account_id}/session")).json()["token"]
    auth = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    path = {"public_id": chat.account_id}
    big = json.dumps({"text": "x" * (65 * 1024)}).encode()

    async def burst(attempt: int) -> tuple[list[int], Any]:
        r = await asyncio.to_thread(_call, "POST", "/widget/{public_id}/messages", live.url,
                                    path_parameters=path,
                                    headers={**auth, "Content-Type": "application/json"},
                                    kwargs={"data": big})
        assert r.status_code == 413
        statuses = []
        for i in range(settings.widget_rate_per_minute + 1):
            r = await asyncio.to_thread(
                _call, "POST", "/widget/{public_id}/messages", live.url,
                path_parameters=path, headers=auth,
                body={"text": f"m{i}", "clientMessageId": f"client-{attempt}-{i:04d}"},
                media_type="application/json",
            )
            statuses.append(r.status_code)
        return statuses, r

    # The budget is a fixed one-minute window: only a burst counted in one window shows it.
    statuses, last = await in_one_window(burst, RATE_WINDOW_S)
    # The oversized body counted against the budget too: the last two are refused.
    assert statuses[-1] == 429 and set(statuses[:-2]) == {201}
    assert last.headers["access-control-allow-origin"] == [ORIGIN]
