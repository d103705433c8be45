"""The console offers Retry next to a turn whose model call failed, and the customer gets the
answer, charged once."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.helpers import Watch, open_widget, sign_in, visitor_says
from tests.helpers import db_value as _scalar


async def test_operator_retries_a_failed_turn_from_the_console(
    browser, live, shop, worker, model, watch: Watch, shots, test_env
):
    db = test_env["DATABASE_URL"]
    await model.config(fail_all={"status": 503, "retry": False})
    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    visitor = watch.attach(await browser.new_page())
    await open_widget(visitor, live, shop)
    await visitor_says(visitor, "hello")

    await console.locator(".conv").click()
    failed = console.locator("#messages .msg.inbound")
    await expect(failed.locator(".inbound-status")).to_have_text("failed (model_error)")
    assert await _scalar(db, "SELECT credit_balance FROM tenants") == 100  # released
    button = failed.locator("button.retry")
    await expect(button).to_have_text("Retry")
    await shots(console, "failed-turn")

    await model.config(fail_all=None)
    await button.click()
    await expect(console.locator("#messages .bubble")).to_have_text(["hello", "[sandbox] hello"])
    await expect(failed.locator("button.retry")).to_have_count(0)
    await expect(visitor.locator(".msg.ai .bubble")).to_have_text("[sandbox] hello")
    await expect(console.locator("#credits")).to_have_text("99 credits")
    assert await _scalar(db, "SELECT count(*) FROM messages WHERE sender_role = 'ai'") == 1
    await shots(console, "retried-turn")
    assert watch.dialogs == [] and watch.errors == []
