"""The console shows the last 30 days of usage as a chart, with the period's totals."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import expect

from tests.browser.helpers import Watch, sign_in, visitor_chats


async def test_the_console_charts_the_last_thirty_days(browser, live, shop, worker, watch: Watch,
                                                       shots):
    await visitor_chats(browser, live, shop, watch)

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, shop.api_key)
    await expect(console.locator("#usage-chart .usage-bar")).to_have_count(30)
    today = datetime.now(UTC).date().isoformat()
    bar = console.locator(f'#usage-chart .usage-bar[data-day="{today}"]')
    await expect(bar).to_have_attribute("title", f"{today}: 1 AI replies, 1 credits")
    await expect(console.locator("#usage-totals")).to_contain_text("1 AI replies")
    await shots(console, "usage")
    assert watch.dialogs == [] and watch.errors == []
