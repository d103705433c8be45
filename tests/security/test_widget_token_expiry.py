"""Widget visitor tokens have a sliding lifetime: one left unused for WIDGET_TOKEN_TTL_HOURS is
refused (401, and the widget starts a new session); one in use is renewed on the answers."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from app.crypto import sign
from app.webchat.guard import RENEWED_TOKEN_HEADER, _secret, check_token, issue_token
from tests.widget.helpers import ORIGIN, Visitor

TTL_S = 720 * 3600  # the default WIDGET_TOKEN_TTL_HOURS
ENDPOINTS = (("POST", "messages"), ("GET", "messages"), ("GET", "stream"))


def _aged(settings: Any, visitor: Visitor, chat: Any, seconds: float) -> str:
    """The visitor's own token as the server would have issued it `seconds` ago."""
    assert visitor.visitor_id
    return issue_token(settings, chat.channel_id, visitor.visitor_id, now=time.time() - seconds)


async def _call(client: httpx.AsyncClient, chat: Any, token: str, method: str,
                path: str) -> httpx.Response:
    return await client.request(
        method, f"/widget/{chat.account_id}/{path}",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
        json={"text": "hi"} if method == "POST" else None,
        params={"limit": "1"} if (method, path) == ("GET", "messages") else None)


def test_the_lifetime_is_a_setting_with_a_month_by_default(settings):
    assert settings.widget_token_ttl_hours == 720


async def test_a_token_unused_for_its_lifetime_is_refused_everywhere(client, chat, visitor, settings):
    stale = _aged(settings, visitor, chat, TTL_S + 60)
    for method, path in ENDPOINTS:
        r = await _call(client, chat, stale, method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["code"] == "UNAUTHENTICATED" and "expired" in r.json()["error"]
        # CORS headers on the refusal, so the page can read it and start over.
        assert r.headers["access-control-allow-origin"] == ORIGIN


async def test_an_expired_token_gets_a_new_visitor_not_the_old_conversation(client, chat, visitor,
                                                                            settings):
    assert (await visitor.send("my address is 1 Main St")).status_code == 201
    stale = _aged(settings, visitor, chat, TTL_S + 60)
    r = await client.post(f"/widget/{chat.account_id}/session",
                          headers={"Origin": ORIGIN, "Authorization": f"Bearer {stale}"})
    assert r.status_code == 201
    fresh = Visitor(client, chat.account_id)
    fresh.token = r.json()["token"]
    assert r.json()["visitorId"] != visitor.visitor_id
    assert (await fresh.history())["messages"] == []


async def test_a_token_in_use_slides_forward(client, chat, visitor, settings):
    # Just inside its lifetime: accepted, and the answer carries a renewed token...
    old = _aged(settings, visitor, chat, TTL_S - 60)
    for method, path in ENDPOINTS[:2]:
        r = await _call(client, chat, old, method, path)
        assert r.status_code in (200, 201), r.text
        renewed = r.headers[RENEWED_TOKEN_HEADER]
        grant = check_token(settings, renewed, chat.channel_id)
        assert grant.visitor == visitor.visitor_id
        assert abs(grant.issued_at - time.time()) < 60
        # ...that is still good long after the old one would have expired.
        later = time.time() + TTL_S - 120
        assert check_token(settings, renewed, chat.channel_id, now=later).visitor == grant.visitor
        assert "x-visitor-token" in r.headers["access-control-expose-headers"]
    # A returning page asking for a session gets its visitor back with a fresh token.
    r = await client.post(f"/widget/{chat.account_id}/session",
                          headers={"Origin": ORIGIN, "Authorization": f"Bearer {old}"})
    assert r.status_code == 200 and r.json()["visitorId"] == visitor.visitor_id
    assert check_token(settings, r.json()["token"], chat.channel_id).issued_at > time.time() - 60


async def test_a_fresh_token_is_not_reissued_on_every_answer(client, chat, visitor):
    assert visitor.token
    r = await _call(client, chat, visitor.token, "GET", "messages")
    assert r.status_code == 200 and RENEWED_TOKEN_HEADER.lower() not in r.headers


async def test_a_shorter_lifetime_setting_applies(client, chat, visitor, settings, app):
    app.state.runtime.settings = settings.model_copy(update={"widget_token_ttl_hours": 1})
    assert (await _call(client, chat, _aged(settings, visitor, chat, 3000), "GET", "messages")
            ).status_code == 200
    r = await _call(client, chat, _aged(settings, visitor, chat, 3700), "GET", "messages")
    assert r.status_code == 401


@pytest.mark.parametrize("issued", ["", "soon", "-5", "1.5"])
async def test_malformed_issue_times_are_refused_not_500(client, chat, visitor, settings, issued):
    raw = f"{chat.channel_id}:{visitor.visitor_id}:{issued}".encode()
    head = "wv2." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    token = f"{head}.{sign(head, _secret(settings))}"
    assert (await _call(client, chat, token, "GET", "messages")).status_code == 401


async def test_tokens_of_the_old_format_which_never_expired_are_refused(client, chat, visitor,
                                                                        settings):
    # A genuine v1 token (no issue time): before lifetimes, it was good forever.
    raw = f"{chat.channel_id}:{visitor.visitor_id}".encode()
    head = "wv1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    token = f"{head}.{sign(head, _secret(settings))}"
    r = await _call(client, chat, token, "GET", "messages")
    assert r.status_code == 401
