"""The console offers the approved templates, with a field per parameter, for a WhatsApp
conversation whose 24-hour window is closed, and sends the chosen one."""

from __future__ import annotations

import httpx
from playwright.async_api import expect
from sqlalchemy import update

from app.db import transaction
from app.models import Contact
from tests.browser.helpers import Watch, sign_in
from tests.factories import make_world
from tests.graphql.helpers import hours_ago, seed_conversation, set_inbound_at
from tests.helpers import wait_for
from tests.templates.helpers import connect_waba


async def test_console_sends_a_template_when_the_window_is_closed(
    browser, live, runtime, worker, graph, watch: Watch, shots
):
    world = await make_world(runtime, name="Acme")
    async with httpx.AsyncClient(base_url=live.url) as api:
        await connect_waba(api, graph, world)
    conv = await seed_conversation(runtime, world, external_id="5215512345678", texts=("hola",))
    async with transaction(runtime.sessions) as s:
        await s.execute(update(Contact).values(wa_id="5215512345678"))
    await set_inbound_at(runtime, conv, hours_ago(30))

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, world.api_key)
    await console.locator(".conv").click()
    offer = console.locator("#templates")
    await expect(offer).to_be_visible()
    await expect(console.locator("#template-pick option")).to_have_text(
        ["order_update (en_US)", "welcome (es)"])
    await expect(console.locator("#template-preview")).to_have_text(
        "Hi {{1}}, your order {{2}} has shipped.\n\nAcme")
    await expect(console.locator("#template-fields label")).to_have_text(["body.1", "body.2"])
    await shots(console, "templates-offered")

    # A missing value is refused with Meta's rule in words, and nothing is sent.
    await console.fill("#tp-body-1", "Ana")
    await console.evaluate("document.getElementById('tp-body-2').required = false")
    await console.click("#template-send")
    await expect(console.locator("#template-error")).to_contain_text("'body.2' must not be empty")
    assert await graph.requests(kind="send") == []

    await console.fill("#tp-body-2", "A-7")
    await console.click("#template-send")
    sent = console.locator("#messages .msg.role-operator")
    await expect(sent.locator(".bubble")).to_have_text("Hi Ana, your order A-7 has shipped.\n\nAcme")
    await expect(sent.locator(".ticks")).to_have_text("\u2713")
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id, kind="send"))
    assert sends[0]["json"]["template"]["name"] == "order_update"
    await expect(console.locator("#credits")).to_have_text("99 credits")
    await shots(console, "template-sent")
    assert watch.dialogs == [] and watch.errors == []
