"""Fixtures for the widget's public API: a client of the live server for SSE. (The web chat
channel and its visitor, `chat` and `visitor`, are in the root conftest: other folders use
them too.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.live import LiveServer


@pytest.fixture
async def live_client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as c:
        yield c
