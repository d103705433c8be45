"""The webhook subscription handshake: the verify token compared in constant time, and the
echoed challenge (the caller's own text) served as plain text a browser may not sniff."""

from __future__ import annotations

import pytest

HANDSHAKE = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}


async def test_the_echoed_challenge_cannot_be_sniffed_into_html(client, settings):
    challenge = "<html><script>alert(document.cookie)</script></html>"
    r = await client.get("/webhooks/meta", params={
        **HANDSHAKE, "hub.verify_token": settings.meta_verify_token, "hub.challenge": challenge})
    assert r.status_code == 200 and r.text == challenge  # verbatim, as Meta requires
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("guess", [
    "", "t", "test-verify-toke", "test-verify-tokenX", "Test-verify-token", "tést-verify-token",
    "test-verify-token\x00", "🔑" * 20,
])
async def test_anything_but_the_exact_token_is_refused_without_an_error(client, guess):
    r = await client.get("/webhooks/meta", params={**HANDSHAKE, "hub.verify_token": guess})
    assert r.status_code == 403
    assert r.json()["code"] == "FORBIDDEN"
    assert "1158201444" not in r.text


async def test_the_token_is_not_accepted_without_subscribe_mode(client, settings):
    r = await client.get("/webhooks/meta", params={
        "hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": settings.meta_verify_token})
    assert r.status_code == 403
