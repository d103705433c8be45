"""The widget's public endpoints over HTTP: tokens, sending, history, CORS, input limits."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_world
from tests.helpers import db_value, wait_for
from tests.widget.helpers import ORIGIN, Visitor


def assert_error_shape(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "code", "correlationId", "timestamp"}, body
    assert isinstance(body["error"], str) and body["error"]
    if code:
        assert body["code"] == code, body


async def test_session_issues_an_opaque_signed_token_and_keeps_a_returning_visitor(client, chat):
    r = await client.post(f"/widget/{chat.account_id}/session", headers={"Origin": ORIGIN})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token"].startswith("wv2.") and body["visitorId"].startswith("v_")
    assert chat.api_key not in body["token"]
    assert r.headers["access-control-allow-origin"] == ORIGIN
    again = await client.post(f"/widget/{chat.account_id}/session",
                              headers={"Origin": ORIGIN, "Authorization": f"Bearer {body['token']}"})
    assert again.status_code == 200
    assert again.json()["visitorId"] == body["visitorId"]
    other = await client.post(f"/widget/{chat.account_id}/session", headers={"Origin": ORIGIN})
    assert other.json()["visitorId"] != body["visitorId"]


async def test_send_is_answered_by_the_agent_and_shows_in_history(visitor, worker, test_env):
    r = await visitor.send("hello")
    assert r.status_code == 201, r.text
    sent = r.json()["message"]
    assert sent["direction"] == "inbound" and sent["text"] == "hello"
    assert sent["senderRole"] == "customer" and sent["status"] == "received"
    assert "providerMessageId" not in sent and "raw" not in sent

    async def answered() -> list[dict[str, object]] | None:
        msgs = (await visitor.history())["messages"]
        # The reply is visible as `pending` a moment before the send settles it as `sent`.
        return msgs if len(msgs) == 2 and msgs[1]["status"] == "sent" else None

    msgs = await wait_for(answered, timeout=10)
    assert [(m["direction"], m["senderRole"], m["text"]) for m in msgs] == [
        ("inbound", "customer", "hello"), ("outbound", "ai", "[sandbox] hello")]
    db = test_env["DATABASE_URL"]
    assert await db_value(db, "SELECT credit_balance FROM tenants") == 99


async def test_a_retried_post_with_the_same_client_id_is_stored_once(visitor, model, worker, test_env):
    first = await visitor.send("price of the blue tent?", client_id="retry-0001")
    again = await visitor.send("price of the blue tent?", client_id="retry-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_value(db, "SELECT count(*) FROM messages WHERE direction='outbound'"),
                   timeout=10)
    assert await db_value(db, "SELECT count(*) FROM messages WHERE direction='inbound'") == 1
    assert len(await model.requests()) == 1


async def test_two_visitors_may_pick_the_same_client_id(client, chat, test_env):
    a, b = await Visitor(client, chat.account_id).session(), await Visitor(client, chat.account_id).session()
    assert (await a.send("from a", client_id="same-id-123")).status_code == 201
    assert (await b.send("from b", client_id="same-id-123")).status_code == 201
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 2


async def test_a_token_for_channel_a_is_refused_on_channel_b(client, runtime, chat, visitor, test_env):
    other = await make_world(runtime, kind="webchat", name="Other",
                             options={"allowed_origins": [ORIGIN]})
    stolen = Visitor(client, other.account_id)
    stolen.token = visitor.token
    assert_error_shape(await stolen.send("hi"), 401, "UNAUTHENTICATED")
    r = await client.get(f"/widget/{other.account_id}/messages", headers=stolen.headers())
    assert_error_shape(r, 401, "UNAUTHENTICATED")
    # Asking channel B for a session with A's token gives a new visitor, not A's.
    r = await client.post(f"/widget/{other.account_id}/session", headers=stolen.headers())
    assert r.status_code == 201 and r.json()["visitorId"] != visitor.visitor_id
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0


async def test_a_visitor_reads_only_their_own_conversation(client, chat, worker):
    x, y = await Visitor(client, chat.account_id).session(), await Visitor(client, chat.account_id).session()
    assert (await x.send("x secret")).status_code == 201
    assert (await y.send("y secret")).status_code == 201

    async def both_answered() -> bool:
        counts = [len((await v.history())["messages"]) for v in (x, y)]
        return counts == [2, 2]

    await wait_for(both_answered, timeout=10)
    x_texts = [m["text"] for m in (await x.history())["messages"]]
    y_texts = [m["text"] for m in (await y.history())["messages"]]
    assert x_texts == ["x secret", "[sandbox] x secret"]
    assert y_texts == ["y secret", "[sandbox] y secret"]
    # Y cannot page through X's history by naming one of X's message ids.
    x_first = (await x.history())["messages"][0]["id"]
    r = await client.get(f"{y.base}/messages", params={"before": x_first}, headers=y.headers())
    assert_error_shape(r, 404, "NOT_FOUND")


async def test_history_pages_backwards(visitor):
    for i in range(5):
        assert (await visitor.send(f"m{i}")).status_code == 201
    page = await visitor.history(limit="2")
    assert [m["text"] for m in page["messages"]] == ["m3", "m4"] and page["hasMore"] is True
    older = await visitor.history(limit="3", before=page["messages"][0]["id"])
    assert [m["text"] for m in older["messages"]] == ["m0", "m1", "m2"]
    assert older["hasMore"] is False


async def test_cors_allows_only_the_channels_origins(client, chat, test_env):
    base = f"/widget/{chat.account_id}"
    ok = await client.options(f"{base}/messages", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"]
    assert ok.headers["vary"] == "Origin"

    evil = "https://evil.example"
    bad = await client.options(f"{base}/messages", headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"})
    assert_error_shape(bad, 403, "ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in bad.headers

    r = await client.post(f"{base}/session", headers={"Origin": evil})
    assert_error_shape(r, 403, "ORIGIN_NOT_ALLOWED")
    good = await Visitor(client, chat.account_id).session()
    stolen = Visitor(client, chat.account_id, origin=evil)
    stolen.token = good.token
    assert_error_shape(await stolen.send("hi"), 403, "ORIGIN_NOT_ALLOWED")
    for port_variant in ("https://shop.example:8443", "http://shop.example", "null"):
        stolen.origin = port_variant
        assert (await stolen.send("hi")).status_code == 403
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0
    # Errors from an allowed origin carry CORS headers, so the page can read them.
    r = await client.post(f"{base}/messages", json={"text": "x"}, headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN


async def test_a_channel_without_allowed_origins_refuses_every_browser_origin(client, runtime):
    bare = await make_world(runtime, kind="webchat")
    r = await client.post(f"/widget/{bare.account_id}/session", headers={"Origin": ORIGIN})
    assert_error_shape(r, 403, "ORIGIN_NOT_ALLOWED")


async def test_the_length_cap_is_enforced_with_a_clear_error(visitor, settings, test_env):
    cap = settings.widget_max_message_chars
    r = await visitor.send("x" * (cap + 1))
    assert_error_shape(r, 422, "MESSAGE_TOO_LONG")
    assert str(cap) in r.json()["error"]
    assert (await visitor.send("é" * cap)).status_code == 201
    huge = await visitor.client.post(f"{visitor.base}/messages", content=b"{" + b" " * 70_000 + b"}",
                                     headers=visitor.headers(**{"Content-Type": "application/json"}))
    assert_error_shape(huge, 413)
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 1


async def test_a_disabled_channel_takes_no_messages(client, runtime, chat, visitor, test_env):
    from app.channels.service import update_channel
    from app.db import transaction
    from app.effects import flush, take

    async with transaction(runtime.sessions) as s:
        await update_channel(s, runtime.settings, chat.tenant_id, chat.channel_id, status="disabled")
    await flush(take(s), runtime.redis)
    assert_error_shape(await visitor.send("anyone?"), 403, "CHANNEL_DISABLED")
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{'0' if sig[0] != '0' else '1'}{sig[1:]}"


@pytest.mark.parametrize("auth", [
    None, "", "Bearer", "Bearer ", "Basic abc", "Bearer garbage", "Bearer a.b.c", "Bearer wv1..",
    "Bearer wv1.!!!!.abc", "Bearer " + "x" * 5000, "TAMPERED",
])
async def test_bad_tokens_are_401_never_500(client, chat, visitor, auth):
    headers = {"Origin": ORIGIN}
    if auth == "TAMPERED":
        assert visitor.token
        auth = "Bearer " + _tampered(visitor.token)
    if auth is not None:
        headers["Authorization"] = auth
    for method, path in (("POST", "messages"), ("GET", "messages"), ("GET", "stream")):
        r = await client.request(method, f"/widget/{chat.account_id}/{path}", headers=headers,
                                 json={"text": "hi"} if method == "POST" else None)
        assert_error_shape(r, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("body", "status"), [
    (b"", 400), (b"not json", 400), (b"[1, 2]", 400), (b'"text"', 400), (b"null", 400),
    (b"{}", 422), (b'{"text": 5}', 422), (b'{"text": null}', 422), (b'{"text": ["a"]}', 422),
    (b'{"text": "   "}', 422), (b'{"text": "\\u0000"}', 422), (b'{"text": "\\ud800"}', 400),
    (b'{"text": "ok", "clientMessageId": 5}', 422), (b'{"text": "ok", "clientMessageId": "short"}', 422),
    (b'{"text": "ok", "clientMessageId": "has spaces in it"}', 422),
    (b'\xff\xfe{"text": "hi"}', 400),
])
async def test_bad_bodies_are_4xx_never_500(visitor, body, status, test_env):
    r = await visitor.client.post(f"{visitor.base}/messages", content=body,
                                  headers=visitor.headers(**{"Content-Type": "application/json"}))
    assert_error_shape(r, status)
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "abc"}, {"limit": "1000"}, {"limit": "-1"}, {"before": "nope"},
    {"before": "00000000-0000-0000-0000-000000000000"},
])
async def test_bad_history_parameters_are_4xx(visitor, params):
    r = await visitor.client.get(f"{visitor.base}/messages", params=params, headers=visitor.headers())
    assert 400 <= r.status_code < 500, r.text
    assert_error_shape(r, r.status_code)


@pytest.mark.parametrize("public_id", ["wc_doesnotexist", "../../etc", "a" * 300, "%00", "wc_x;drop"])
async def test_unknown_channels_are_404(client, public_id):
    for method, path in (("POST", "session"), ("POST", "messages"), ("GET", "messages"),
                         ("GET", "stream"), ("OPTIONS", "messages")):
        r = await client.request(method, f"/widget/{public_id}/{path}",
                                 headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 404, (method, path, r.text)


async def test_origins_match_whatever_the_case_or_trailing_slash(client, runtime):
    world = await make_world(runtime, kind="webchat", options={"allowed_origins": ["https://Shop.Example/"]})
    r = await client.post(f"/widget/{world.account_id}/session", headers={"Origin": "https://shop.example"})
    assert r.status_code == 201, r.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(st.sampled_from(["text", "clientMessageId", "other"]), json_values)
       | json_values, raw=st.binary(max_size=64))
async def test_generated_bodies_never_cause_a_500(visitor, runtime, body, raw):
    import json

    # Each example starts with a fresh budget, or the limiter would answer every later one.
    keys = [k async for k in runtime.redis.scan_iter("mca:wrl:*")]
    if keys:
        await runtime.redis.delete(*keys)
    for content in (json.dumps(body).encode(), raw):
        r = await visitor.client.post(f"{visitor.base}/messages", content=content,
                                      headers=visitor.headers(**{"Content-Type": "application/json"}))
        assert r.status_code in (200, 201, 400, 413, 422), r.text
        assert "error" in r.json() or "message" in r.json()
