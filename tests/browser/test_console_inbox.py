"""Two operators work the inbox at once in Chromium: tabs with counts, unread badges, and one
sees the other's assignment, typing and resolution live."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser.helpers import Watch, sign_in, visitor_chats, visitor_says
from tests.inbox.helpers import make_operator


async def test_two_operators_share_the_inbox_live(
    browser, live, shop, worker, watch: Watch, shots
):
    async with httpx.AsyncClient(base_url=live.url) as http:
        ana_op = await make_operator(http, shop.api_key, "Ana")
        luis_op = await make_operator(http, shop.api_key, "Luis")
    ana = watch.attach(await browser.new_page())
    luis = watch.attach(await browser.new_page())
    await sign_in(ana, live, ana_op.key)
    await sign_in(luis, live, luis_op.key)
    await expect(ana.locator("#operator-name")).to_have_text("Ana")

    visitor = await visitor_chats(browser, live, shop, watch)

    for page in (ana, luis):
        await expect(page.locator(".conv")).to_have_count(1)
        await expect(page.locator(".conv .unread")).to_have_text("1")
        await expect(page.locator('[data-count="OPEN"]')).to_have_text("1")
        await expect(page.locator('[data-count="UNASSIGNED"]')).to_have_text("1")
        await expect(page.locator('[data-count="MINE"]')).to_have_text("0")
    await shots(luis, "two-operators-new-conversation")

    # Ana reads it: her badge goes, Luis's stays.
    await ana.locator(".conv").click()
    await expect(ana.locator("#messages .bubble")).to_have_text(["hello", "[sandbox] hello"])
    await expect(ana.locator(".conv .unread")).to_have_count(0)
    await expect(ana.locator("#assignee")).to_have_text("Unassigned")
    await luis.reload()
    await expect(luis.locator("#live")).to_have_text("live")
    await expect(luis.locator(".conv .unread")).to_have_text("1")

    # Ana takes it; Luis sees it is hers, without a reload.
    await ana.click("#assign-me")
    await expect(ana.locator("#assignee")).to_have_text("Assigned to you")
    await expect(ana.locator('[data-count="MINE"]')).to_have_text("1")
    await expect(luis.locator(".conv .conv-assignee")).to_have_text("Ana")
    await expect(luis.locator('[data-count="UNASSIGNED"]')).to_have_text("0")
    await expect(luis.locator('[data-count="MINE"]')).to_have_text("0")
    await luis.click('[data-scope="MINE"]')
    await expect(luis.locator(".conv")).to_have_count(0)
    await luis.click('[data-scope="ALL"]')
    await luis.locator(".conv").click()
    await expect(luis.locator("#assignee")).to_have_text("Assigned to Ana")
    await expect(luis.locator(".conv .unread")).to_have_count(0)

    # Ana types a reply; Luis sees who is typing.
    await ana.locator("#reply").press_sequentially("On it")
    await expect(luis.locator("#typing")).to_have_text("Ana is typing\u2026")
    await shots(luis, "sees-ana-typing")
    # Her reply says who wrote it, on both consoles.
    await ana.press("#reply", "Enter")
    for page in (ana, luis):
        await expect(page.locator("#messages .msg.role-operator .who")).to_have_text(
            "Operator \u00b7 Ana")
    await expect(visitor.locator(".msg.operator .bubble")).to_have_text("On it")

    # Ana resolves; the conversation leaves Luis's Open tab and is counted as resolved.
    await ana.click("#resolve")
    await expect(ana.locator("#status")).to_have_text("Resolved")
    await expect(luis.locator("#status")).to_have_text("Resolved")
    await expect(luis.locator('[data-count="OPEN"]')).to_have_text("0")
    await expect(luis.locator('[data-count="RESOLVED"]')).to_have_text("1")
    await expect(luis.locator(".conv")).to_have_count(0)
    await shots(luis, "resolved-by-ana")

    # The customer writes again: open again for both, still Ana's.
    await visitor_says(visitor, "one more thing")
    for page in (ana, luis):
        await expect(page.locator('[data-count="OPEN"]')).to_have_text("1")
        await expect(page.locator(".conv")).to_have_count(1)
        await expect(page.locator(".conv .conv-assignee")).to_have_text("Ana")
    await expect(luis.locator("#status")).to_have_text("Open")
    await shots(ana, "reopened-by-the-customer")
    assert watch.dialogs == [] and watch.errors == []
