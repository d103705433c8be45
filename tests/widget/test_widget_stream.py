"""The visitor's live stream (SSE on a real socket): replies, typing, and nobody else's events."""

from __future__ import annotations

import uuid

from app.conversations.service import add_message, set_mode
from app.db import transaction
from app.effects import flush, take
from tests.helpers import wait_for
from tests.widget.helpers import ORIGIN, Stream, Visitor


def _is(kind: str, **fields: object):  # type: ignore[no-untyped-def]
    def match(event: str, data: dict) -> bool:  # type: ignore[type-arg]
        if event != kind:
            return False
        target = data.get("message", data)
        return all(target.get(k) == v for k, v in fields.items())

    return match


async def test_the_reply_arrives_live_with_a_typing_indicator(live_client, chat, worker, model):
    await model.config(latency_ms=300)
    v = await Visitor(live_client, chat.account_id).session()
    async with Stream(live_client, v) as s:
        assert s.response is not None and s.response.status_code == 200
        assert s.response.headers["content-type"].startswith("text/event-stream")
        assert s.response.headers["access-control-allow-origin"] == ORIGIN
        assert await s.next() == ("ready", {"typing": False})
        assert (await v.send("hello")).status_code == 201
        await s.until(_is("typing", typing=True))
        _, reply = await s.until(_is("message", direction="outbound"))
        assert reply["message"]["senderRole"] == "ai"
        assert reply["message"]["text"] == "[sandbox] hello"
        await s.until(_is("typing", typing=False))
        await s.until(_is("message", direction="inbound", status="answered"))
    kinds = [e for e, _ in s.events]
    assert kinds.index("typing") < max(i for i, (e, d) in enumerate(s.events)
                                       if e == "message" and d["message"]["direction"] == "outbound")
    for _, data in s.events:
        if "message" in data:
            assert set(data["message"]) <= {"id", "conversationId", "seq", "direction", "senderRole", "type",
                                            "text", "status", "createdAt", "clientMessageId"}


async def test_history_reports_typing_while_the_model_works(live_client, chat, worker, model):
    # The answer takes long enough that the stream below connects while it is still coming,
    # however slowly a busy machine gets there; the test never waits for the answer itself.
    await model.config(latency_ms=8000)
    v = await Visitor(live_client, chat.account_id).session()
    assert (await v.send("anyone?")).status_code == 201

    async def typing() -> bool:
        return bool((await v.history())["typing"])

    await wait_for(typing)
    async with Stream(live_client, v) as s:
        # Connecting mid-answer still shows the dots.
        assert await s.next() == ("ready", {"typing": True})


async def test_a_visitor_never_sees_another_visitors_events(live_client, chat, worker):
    x = await Visitor(live_client, chat.account_id).session()
    y = await Visitor(live_client, chat.account_id).session()
    async with Stream(live_client, x) as xs, Stream(live_client, y) as ys:
        await xs.next()
        await ys.next()
        assert (await x.send("only for x")).status_code == 201
        await xs.until(_is("message", direction="outbound"))
        assert (await y.send("y here")).status_code == 201
        _, first = await ys.until(_is("message"))
        assert first["message"]["text"] == "y here"
        await ys.until(_is("message", direction="outbound"))
    texts = [d["message"]["text"] for e, d in ys.events if e == "message"]
    assert all("only for x" not in (t or "") for t in texts)
    assert {d["message"]["conversationId"] for e, d in ys.events if e == "message"} == {
        d["message"]["conversationId"] for e, d in ys.events if e == "message"
        and d["message"]["text"] == "y here"}


async def test_operator_messages_reach_the_visitor_and_human_mode_has_no_typing(
    live_client, runtime, chat, worker, test_env
):
    v = await Visitor(live_client, chat.account_id).session()
    assert (await v.send("first")).status_code == 201
    answered = await wait_for(lambda: _outbound(v))
    conv_id = uuid.UUID(answered[0]["conversationId"])
    async with transaction(runtime.sessions) as s:
        conv = await set_mode(s, chat.tenant_id, conv_id, "human")
    await flush(take(s), runtime.redis)
    async with Stream(live_client, v) as st:
        await st.next()
        assert (await v.send("is a person there?")).status_code == 201
        await st.until(_is("message", direction="inbound", status="skipped"))
        async with transaction(runtime.sessions) as s:
            await add_message(s, conv, direction="outbound", sender_role="operator", type="text",
                              text="Hi, Ana here.", status="pending")
        await flush(take(s), runtime.redis)
        _, op = await st.until(_is("message", senderRole="operator"))
        assert op["message"]["text"] == "Hi, Ana here."
    assert not any(e == "typing" and d["typing"] for e, d in st.events)
    # "skipped" was final (the stream said so above): the AI reply to "first" and the
    # operator's, no other.
    assert len(await _outbound(v)) == 2


async def _outbound(v: Visitor) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in (await v.history())["messages"] if m["direction"] == "outbound"]


async def test_stream_refuses_other_origins_and_too_many_tabs(live_client, chat):
    v = await Visitor(live_client, chat.account_id).session()
    evil = Visitor(live_client, chat.account_id, origin="https://evil.example")
    evil.token = v.token
    r = await live_client.get(f"{v.base}/stream", headers=evil.headers())
    assert r.status_code == 403 and r.json()["code"] == "ORIGIN_NOT_ALLOWED"
    from app.webchat.stream import MAX_STREAMS_PER_VISITOR

    streams = [Stream(live_client, v) for _ in range(MAX_STREAMS_PER_VISITOR)]
    for st in streams:
        await st.__aenter__()
        await st.next()
    try:
        r = await live_client.get(f"{v.base}/stream", headers=v.headers())
        assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"
        assert r.headers["retry-after"]
    finally:
        for st in streams:
            await st.__aexit__(None, None, None)

    async def reopens() -> bool:
        async with Stream(live_client, v) as again:
            assert again.response is not None
            return again.response.status_code == 200

    # Closed tabs give their slots back as soon as the server sees the disconnect.
    await wait_for(reopens, interval=0.1)
