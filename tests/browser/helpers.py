"""What the browser tests watch a page for."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page


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
