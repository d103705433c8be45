"""The console puts labels on a conversation, filters the list by label, and keeps private notes
that a second operator sees live and the visitor never sees."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser.helpers import Watch, sign_in, visitor_chats
from tests.graphql.helpers import gql, ok
from tests.helpers import db_value

CREATE_LABEL = "mutation L($n: String!, $c: String) { createLabel(name: $n, color: $c) { id } }"


async def test_operators_label_a_conversation_and_keep_private_notes(
    browser, live, shop, worker, watch: Watch, shots, test_env
):
    db = test_env["DATABASE_URL"]
    async with httpx.AsyncClient(base_url=live.url) as http:
        for name, color in (("VIP", "#facc15"), ("Billing", "#ef4444")):
            ok(await gql(http, CREATE_LABEL, {"n": name, "c": color}, key=shop.api_key))
    visitor = await visitor_chats(browser, live, shop, watch)

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    other = watch.attach(await browser.new_page())
    await sign_in(other, live, shop.api_key)
    await console.locator(".conv").click()
    await other.locator(".conv").click()
    await expect(console.locator("#messages .bubble")).to_have_text(["hello", "[sandbox] hello"])

    # Labels: put on from the picker, shown on the conversation and in the list.
    await console.select_option("#label-add", label="VIP")
    await expect(console.locator("#label-chips .label-chip")).to_have_text(["VIP\u00d7"])
    await expect(console.locator(".conv .label-chip")).to_have_text(["VIP"])
    # The other operator's console follows (ConversationUpdated LABELS).
    await expect(other.locator("#label-chips .label-chip")).to_have_text(["VIP\u00d7"])
    await expect(console.locator("#label-add option")).to_have_text(
        ["+ Label\u2026", "Billing", "New label\u2026"])

    # The label filter.
    await console.select_option("#label-filter", label="Billing")
    await expect(console.locator(".conv")).to_have_count(0)
    await expect(console.locator("#no-conversations")).to_be_visible()
    await console.select_option("#label-filter", label="VIP")
    await expect(console.locator(".conv")).to_have_count(1)
    await shots(console, "console-labels")

    # Private notes: added here, seen live there, never on the visitor's page.
    await console.fill("#note-text", "Wants a quote for 40 units; call back Monday.")
    await console.click("#note-add")
    await expect(console.locator("#note-list .note-text")).to_have_text(
        ["Wants a quote for 40 units; call back Monday."])
    await expect(other.locator("#note-list .note-text")).to_have_text(
        ["Wants a quote for 40 units; call back Monday."])
    await expect(console.locator("#note-list .note-author")).to_have_text(["initial"])  # the API key's name
    await shots(console, "console-notes")
    assert await db_value(db, "SELECT count(*) FROM conversation_notes") == 1
    assert await db_value(db, "SELECT count(*) FROM messages WHERE text LIKE '%40 units%'") == 0
    assert "40 units" not in await visitor.locator("body").inner_text()

    # Deleting a note and removing a label, each seen by the other operator.
    await console.locator("#note-list .note button").click()
    await expect(console.locator("#note-list .note")).to_have_count(0)
    await expect(other.locator("#note-list .note")).to_have_count(0)
    await console.locator("#label-chips .label-chip button").click()
    await expect(console.locator("#label-chips .label-chip")).to_have_count(0)
    await expect(other.locator("#label-chips .label-chip")).to_have_count(0)
    assert watch.dialogs == [] and watch.errors == []
