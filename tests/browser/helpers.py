"""What the browser tests watch a page for, and the steps they share (the widget, the console)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.factories import World
from tests.live import LiveServer


class Watch:
    """What a page did that a test must notice: dialogs (an XSS firing) and console errors
    (a CSP violation shows up there)."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Page) -> Page:
        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        return page


async def open_widget(page: Page, live: LiveServer, shop: World) -> None:
    await page.goto(f"{live.url}/demo?channel={shop.account_id}")
    await page.locator(".launcher").click()
    await expect(page.locator(".panel")).to_be_visible()


async def visitor_says(page: Page, text: str) -> None:
    box = page.locator("textarea.input")
    await box.fill(text)
    await box.press("Enter")


async def sign_in(page: Page, live: LiveServer, key: str) -> None:
    await page.goto(f"{live.url}/console")
    await page.fill("#api-key", key)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#live")).to_have_text("live")
    assert key not in page.url


async def visitor_chats(browser: Browser, live: LiveServer, shop: World, watch: Watch,
                        text: str = "hello") -> Page:
    """A visitor opens the widget on the demo page, writes `text` and waits for the sandbox
    agent's answer."""
    visitor = watch.attach(await browser.new_page())
    await open_widget(visitor, live, shop)
    await visitor_says(visitor, text)
    await expect(visitor.locator(".msg.ai .bubble")).to_have_text(f"[sandbox] {text}")
    return visitor
