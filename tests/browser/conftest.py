"""Browser tests: Playwright for Python driving Debian's Chromium against the real app.

The app runs under uvicorn on a free port (lifespan on) with an in-process arq worker; the fake
OpenAI and Graph servers are wired through the environment like every other test.
Playwright's own browser download does not work here, so the system Chromium is used, and the
tests skip (with the reason) only when it is absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import Watch
from tests.factories import World, make_world
from tests.helpers import ROOT
from tests.live import LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

try:
    from playwright.async_api import BrowserContext, Page, async_playwright, expect

    # Generous: `make test` runs with coverage and alongside other suites on the same machine.
    expect.set_options(timeout=10_000)
except ImportError:  # pragma: no cover - dev extra not installed
    async_playwright = None

pytestmark = pytest.mark.skipif(
    async_playwright is None or not shutil.which(CHROMIUM),
    reason=f"needs the playwright package and Chromium at {CHROMIUM} "
           "(apt-get install -y chromium; pip install -e '.[dev]')",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytestmark)



@pytest.fixture
async def shop(runtime: Any, live: LiveServer) -> World:
    """A tenant with a web chat channel whose widget may run on the live server's pages."""
    return await make_world(runtime, kind="webchat", name="Northwind",
                            options={"allowed_origins": [live.url]})


@pytest.fixture
async def browser(tmp_path: Path, live: LiveServer) -> AsyncIterator[BrowserContext]:
    # Depends on `live` so the browser closes first: its open streams and websockets end
    # before the server shuts down, instead of being cancelled mid-flight.
    assert async_playwright is not None
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for every test
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Any:
    """screenshot(page, "step"): saved as test-artifacts/browser/<test>/<n>-<step>.png."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    async def screenshot(page: Page, step: str) -> Path:
        path = folder / f"{next(counter):02d}-{step}.png"
        await page.screenshot(path=str(path))
        return path

    return screenshot
