"""Fixtures for the widget's public API: a web chat channel, a visitor, a client of the live
server for SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.factories import World, make_world
from tests.live import LiveServer
from tests.widget.helpers import ORIGIN, Visitor


@pytest.fixture
async def chat(runtime: Any) -> World:
    return await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})


@pytest.fixture
async def visitor(client: httpx.AsyncClient, chat: World) -> Visitor:
    return await Visitor(client, chat.account_id).session()


@pytest.fixture
async def live_client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as c:
        yield c
