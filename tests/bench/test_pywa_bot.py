"""The cost benchmark's comparison bot answers a signed webhook through the fakes, as the
platform does: the model through the openai SDK, the reply through the Graph API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx

from bench.loadgen import wa_body
from bench.pywa_bot import app_factory

ACCOUNT, CUSTOMER = "106540352242922", "5215512340000"


async def _replies(graph: Any, *, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        sent = [r for r in await graph.requests(account_id=ACCOUNT) if r["kind"] == "send"]
        if len(sent) >= count:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} replies, the fake Graph API got {len(sent)}")


async def test_the_pywa_bot_answers_through_the_fakes(test_env, clean, graph, model):
    app = app_factory({**test_env, "BENCH_PHONE_ID": ACCOUNT})
    secret = test_env["META_APP_SECRET"].encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as c:
        forged = wa_body(ACCOUNT, CUSTOMER, "forged", "wamid.forged")
        r = await c.post("/webhooks/meta", content=forged,
                         headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert r.status_code == 403
        for i, text in enumerate(["hello", "again"]):
            raw = wa_body(ACCOUNT, CUSTOMER, text, f"wamid.bot.{i}")
            sig = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
            r = await c.post("/webhooks/meta", content=raw,
                             headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"})
            assert r.status_code == 200
            await _replies(graph, count=i + 1)
        assert (await c.get("/bench/answered")).text == "2"
    sent = await _replies(graph, count=2)
    assert [(s["json"]["to"], s["json"]["text"]["body"]) for s in sent] == [
        (CUSTOMER, "[sandbox] hello"), (CUSTOMER, "[sandbox] again")]
    calls = await model.requests()
    assert [c["user_texts"] for c in calls] == [["hello"], ["again"]]
    # The second turn continues the first: the same model call the platform makes.
    assert calls[0]["body"].get("previous_response_id") is None
    assert calls[1]["body"]["previous_response_id"] == calls[0]["response_id"]
