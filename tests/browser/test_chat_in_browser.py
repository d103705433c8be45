"""The widget and the console in a real browser (Chromium, headless), end to end.

1. a visitor chats on the demo page and keeps their history across a reload;
2. the console shows the conversation live; the operator takes over, replies, hands back;
3. markup in a message stays literal text on both pages and never runs;
4. a page on an origin the channel does not allow cannot send.
"""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.browser.helpers import Watch, open_widget, sign_in, visitor_chats, visitor_says
from tests.helpers import db_value

XSS = "<img src=x onerror=alert(1)>"


async def test_visitor_chats_on_the_demo_page_and_history_survives_reload(
    browser, live, shop, worker, model, watch: Watch, shots
):
    await model.config(latency_ms=800)  # long enough to see the typing indicator
    page = watch.attach(await browser.new_page())
    await open_widget(page, live, shop)
    await shots(page, "widget-open")
    await visitor_says(page, "hello")
    await expect(page.locator(".typing")).to_be_visible()
    await shots(page, "agent-typing")
    await expect(page.locator(".msg.ai .bubble")).to_have_text("[sandbox] hello")
    await expect(page.locator(".typing")).to_be_hidden()
    await shots(page, "agent-replied")

    await page.reload()
    await page.locator(".launcher").click()
    await expect(page.locator(".msg .bubble")).to_have_text(["hello", "[sandbox] hello"])
    await shots(page, "history-after-reload")
    token = await page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('mca-widget:'))")
    assert token == [f"mca-widget:{shop.account_id}"]
    assert shop.api_key not in await page.content()
    assert watch.dialogs == [] and watch.errors == []


async def test_console_shows_the_chat_live_and_the_operator_takes_over(
    browser, live, shop, worker, watch: Watch, shots, test_env
):
    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    assert await console.evaluate("sessionStorage.getItem('mca-console-key')") == shop.api_key
    await shots(console, "console-signed-in")

    visitor = await visitor_chats(browser, live, shop, watch)

    # The conversation appears in the list without a reload (the subscription).
    conv = console.locator(".conv")
    await expect(conv).to_have_count(1)
    await expect(conv.locator(".conv-preview")).to_have_text("AI: [sandbox] hello")
    await expect(conv.locator(".kind")).to_have_text("Web chat")
    await conv.click()
    await expect(console.locator("#messages .bubble")).to_have_text(["hello", "[sandbox] hello"])
    await shots(console, "console-conversation")

    # Messages keep arriving live in the open conversation.
    await visitor_says(visitor, "do you ship to Lisbon?")
    await expect(console.locator("#messages .bubble")).to_have_text(
        ["hello", "[sandbox] hello", "do you ship to Lisbon?", "[sandbox] do you ship to Lisbon?"])

    await console.click("#take-over")
    await expect(console.locator("#mode")).to_have_text("Operator in charge")
    await expect(conv.locator(".mode-badge")).to_have_text("HUMAN")
    await console.fill("#reply", "Hi, this is Ana from the team. Yes, we do!")
    await console.press("#reply", "Enter")
    await expect(visitor.locator(".msg.operator .bubble")).to_have_text(
        "Hi, this is Ana from the team. Yes, we do!")
    await expect(console.locator("#messages .msg.role-operator .ticks")).to_have_text("\u2713")
    await shots(visitor, "visitor-sees-operator")

    await visitor_says(visitor, "great, thanks")
    last = console.locator("#messages .msg.inbound").last
    await expect(last.locator(".bubble")).to_have_text("great, thanks")
    # Skipped is final: the worker has decided, and no AI reply follows it.
    await expect(last.locator(".inbound-status")).to_have_text("skipped (human_mode)")
    await expect(visitor.locator(".msg.ai")).to_have_count(2)
    await expect(visitor.locator(".typing")).to_be_hidden()
    db = test_env["DATABASE_URL"]
    assert await db_value(db, "SELECT count(*) FROM messages WHERE sender_role = 'ai'") == 2
    await shots(console, "console-human-mode")
    await shots(visitor, "visitor-no-ai-reply")

    await console.click("#hand-back")
    await expect(console.locator("#mode")).to_have_text("AI in charge")
    await visitor_says(visitor, "one more thing")
    await expect(visitor.locator(".msg.ai")).to_have_count(3)
    await shots(console, "console-handed-back")
    assert watch.dialogs == [] and watch.errors == []


async def test_markup_in_messages_is_shown_as_text_on_both_pages(
    browser, live, shop, worker, watch: Watch, shots
):
    visitor = watch.attach(await browser.new_page())
    await open_widget(visitor, live, shop)
    await visitor_says(visitor, XSS)
    await expect(visitor.locator(".msg.customer .bubble")).to_have_text(XSS)
    await expect(visitor.locator(".msg.ai .bubble")).to_have_text(f"[sandbox] {XSS}")
    assert await visitor.locator("img").count() == 0  # pierces the widget's shadow root
    await shots(visitor, "widget-literal-markup")

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    await expect(console.locator(".conv-preview")).to_have_text(f"AI: [sandbox] {XSS}")
    await console.locator(".conv").click()
    await console.click("#take-over")
    await console.fill("#reply", f"operator says {XSS}")
    await console.press("#reply", "Enter")
    await expect(console.locator("#messages .bubble")).to_have_text(
        [XSS, f"[sandbox] {XSS}", f"operator says {XSS}"])
    await expect(visitor.locator(".msg.operator .bubble")).to_have_text(f"operator says {XSS}")
    assert await console.locator("img").count() == 0
    await shots(console, "console-literal-markup")
    await asyncio.sleep(0.5)  # an onerror handler would have fired by now
    assert watch.dialogs == []
    assert watch.errors == []


async def test_a_page_on_an_origin_that_is_not_allowed_cannot_send(
    browser, live, shop, watch: Watch, shots, test_env
):
    from app.sandbox.server import run_in_thread

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>Elsewhere</title><link rel=icon href='data:,'><h1>Some other site</h1>"
            f'<script src="{live.url}/widget.js" data-channel="{shop.account_id}" data-open="true">'
            "</script>")

    other = run_in_thread(Starlette(routes=[Route("/", page)]))
    try:
        tab = watch.attach(await browser.new_page())
        await tab.goto(other.url + "/")
        await expect(tab.locator(".panel")).to_be_visible()
        await expect(tab.locator(".error")).to_contain_text("could not connect")
        await visitor_says(tab, "let me in")
        await expect(tab.locator(".msg.unsent")).to_have_count(1)
        # Straight fetch() calls from that page are refused too (CORS preflight).
        outcome = await tab.evaluate("""async ([api]) => {
            try {
              const r = await fetch(api + '/messages', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer x'},
                body: JSON.stringify({text: 'sneaky'})});
              return 'status ' + r.status;
            } catch (e) { return 'blocked'; }
        }""", [f"{live.url}/widget/{shop.account_id}"])
        assert outcome == "blocked"
        await shots(tab, "other-origin-refused")
    finally:
        other.stop()
    assert await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages") == 0
    assert watch.dialogs == []


async def test_console_shows_whatsapp_ticks_as_status_webhooks_arrive(
    browser, live, runtime, worker, watch: Watch, shots, test_env
):
    import httpx

    from tests.factories import make_world
    from tests.meta import signed, wa_message, wa_status, wa_webhook

    shop = await make_world(runtime, kind="whatsapp", name="Northwind")
    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)

    async def webhook(body: dict[str, Any]) -> None:
        raw, headers = signed(body)
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{live.url}/webhooks/meta", content=raw, headers=headers)
            assert r.status_code == 200, r.text

    await webhook(wa_webhook(shop.account_id, [wa_message("hola, tienen envíos?")], name="Ana"))
    conv = console.locator(".conv")
    await expect(conv.locator(".conv-name")).to_have_text("Ana")
    await expect(conv.locator(".kind")).to_have_text("WhatsApp")
    await conv.click()
    ticks = console.locator("#messages .msg.outbound .ticks")
    await expect(ticks).to_have_text("\u2713")
    wamid = await db_value(test_env["DATABASE_URL"],
                          "SELECT provider_message_id FROM messages WHERE direction = 'outbound'")
    await webhook(wa_webhook(shop.account_id, statuses=[wa_status(wamid, "delivered")]))
    await expect(ticks).to_have_text("\u2713\u2713")
    await expect(ticks).to_have_class("ticks tick-delivered")
    await webhook(wa_webhook(shop.account_id, statuses=[wa_status(wamid, "read")]))
    await expect(ticks).to_have_class("ticks tick-read")
    await expect(console.locator("#window-note")).to_contain_text("Reply window closes")
    await shots(console, "console-whatsapp-read-ticks")
    assert watch.dialogs == [] and watch.errors == []
