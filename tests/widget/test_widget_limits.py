"""Per-visitor and per-address rate limits: 429, the JSON error shape, Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.webchat.guard import ADDRESS_FACTOR, RATE_WINDOW_S
from tests.helpers import db_value, in_one_window
from tests.widget.helpers import Visitor
from tests.widget.test_widget_api import assert_error_shape

RATE = 3


@pytest.fixture
async def limited(settings: Any, clean: None) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of an app with a tiny budget; each client comes from the address it is given."""
    from app.main import create_app

    application = create_app(settings.model_copy(update={"widget_rate_per_minute": RATE}))
    clients: list[httpx.AsyncClient] = []

    def from_address(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(address, 40000))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(c)
        return c

    async with application.router.lifespan_context(application):
        yield from_address
        for c in clients:
            await c.aclose()


async def _messages(test_env: dict[str, str]) -> int:
    return int(await db_value(test_env["DATABASE_URL"], "SELECT count(*) FROM messages"))


async def test_a_visitor_over_the_budget_gets_429_with_retry_after(limited, chat, test_env):
    async def burst(_: int) -> None:
        stored = await _messages(test_env)
        v = await Visitor(limited("10.0.0.1"), chat.account_id).session()
        for i in range(RATE):
            assert (await v.send(f"m{i}")).status_code == 201
        r = await v.send("one too many")
        assert_error_shape(r, 429, "RATE_LIMITED")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert f"at most {RATE} a minute" in r.json()["error"]
        assert r.headers["access-control-allow-origin"]  # the page can read why
        assert await _messages(test_env) == stored + RATE
        # Another visitor from another address is not affected.
        other = await Visitor(limited("10.0.0.2"), chat.account_id).session()
        assert (await other.send("hi")).status_code == 201

    await in_one_window(burst, RATE_WINDOW_S)


async def test_many_visitors_from_one_address_share_its_budget(limited, chat, test_env):
    client = limited("10.0.0.9")

    async def burst(_: int) -> None:
        stored = await _messages(test_env)
        for _ in range(ADDRESS_FACTOR):
            v = await Visitor(client, chat.account_id).session()
            for _ in range(RATE):
                assert (await v.send("hello")).status_code == 201
        fresh = await Visitor(client, chat.account_id).session()
        assert_error_shape(await fresh.send("hello"), 429, "RATE_LIMITED")
        assert await _messages(test_env) == stored + ADDRESS_FACTOR * RATE

    await in_one_window(burst, RATE_WINDOW_S)


async def test_minting_visitor_tokens_is_limited_per_address(limited, chat):
    client = limited("10.0.0.7")

    async def burst(_: int) -> None:
        codes = [(await client.post(f"/widget/{chat.account_id}/session")).status_code
                 for _ in range(RATE * ADDRESS_FACTOR + 1)]
        assert codes[:-1] == [201] * (RATE * ADDRESS_FACTOR) and codes[-1] == 429

    await in_one_window(burst, RATE_WINDOW_S)


async def test_reads_have_their_own_larger_budget(limited, chat):
    async def burst(_: int) -> None:
        v = await Visitor(limited("10.0.0.5"), chat.account_id).session()
        for i in range(RATE):
            assert (await v.send(f"m{i}")).status_code == 201
        assert (await v.send("blocked")).status_code == 429
        assert len((await v.history())["messages"]) == RATE  # reading still works

    await in_one_window(burst, RATE_WINDOW_S)
