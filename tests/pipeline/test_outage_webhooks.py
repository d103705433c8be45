"""The webhook and the health check while Postgres or Redis is away: the API talks to the
session's real servers through a proxy that cuts them off (tests/outage.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import signed, wa_message, wa_webhook
from tests.outage import Proxy


@asynccontextmanager
async def _api(settings: Any, **update: Any) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import create_app

    application = create_app(settings.model_copy(update=update))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as c:
            yield c


@pytest.fixture
async def pg_proxy(test_env: dict[str, str]) -> AsyncIterator[Proxy]:
    proxy = await Proxy(test_env["DATABASE_URL"]).start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def redis_proxy(test_env: dict[str, str]) -> AsyncIterator[Proxy]:
    proxy = await Proxy(test_env["REDIS_URL"]).start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def _post(client: httpx.AsyncClient, account: str, text: str,
                sender: str = "5215512345678") -> httpx.Response:
    raw, headers = signed(wa_webhook(account, [wa_message(text, sender=sender)]))
    return await client.post("/webhooks/meta", content=raw, headers=headers)


async def _stored(url: str) -> list[str]:
    rows = await db_rows(url, "SELECT text FROM messages WHERE direction = 'inbound' ORDER BY seq")
    return [r["text"] for r in rows]


async def test_a_webhook_rides_through_a_short_database_outage_in_order(
    settings, runtime, pg_proxy, test_env
):
    world = await make_world(runtime)
    async with _api(settings, database_url=pg_proxy.url, webhook_store_retry_s=10) as client:
        assert (await _post(client, world.account_id, "before")).status_code == 200
        await pg_proxy.down()  # every pooled connection is cut, new ones are refused
        first = asyncio.create_task(_post(client, world.account_id, "during 1"))

        async def retrying() -> bool:
            # A second connection attempt: the first request failed once and now retries.
            return pg_proxy.turned_away >= 2

        # The customer's next message arrives while the first one still waits for the database.
        await wait_for(retrying, timeout=10)
        turned_away = pg_proxy.turned_away
        second = asyncio.create_task(_post(client, world.account_id, "during 2"))
        # The database turned a connection away again since the second arrived: both are
        # held, not failed.
        await wait_for(lambda: pg_proxy.turned_away > turned_away, timeout=10)
        assert not first.done() and not second.done()
        await pg_proxy.up()
        answers = await asyncio.gather(first, second)
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert [r.json()["stored"] for r in answers] == [1, 1]
        # The pool threw the cut connections away: the next webhook needs no retry.
        assert (await _post(client, world.account_id, "after")).status_code == 200
    assert await _stored(test_env["DATABASE_URL"]) == ["before", "during 1", "during 2", "after"]


async def test_a_webhook_answers_503_with_retry_after_once_the_retries_run_out(
    settings, runtime, pg_proxy, test_env
):
    world = await make_world(runtime)
    async with _api(settings, database_url=pg_proxy.url, webhook_store_retry_s=0.5) as client:
        await pg_proxy.down()
        r = await _post(client, world.account_id, "lost?")
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.json()["code"] == "UNAVAILABLE"
        await pg_proxy.up()
        # Meta delivers it again: now it is stored, once.
        raw, headers = signed(wa_webhook(world.account_id, [wa_message("lost?", wamid="wamid.X1")]))
        for _ in range(2):
            again = await client.post("/webhooks/meta", content=raw, headers=headers)
            assert again.status_code == 200
    assert await _stored(test_env["DATABASE_URL"]) == ["lost?"]


async def test_readyz_says_degraded_while_a_dependency_is_away(
    settings, runtime, pg_proxy, redis_proxy
):
    async with _api(settings, database_url=pg_proxy.url, redis_url=redis_proxy.url) as client:
        assert (await client.get("/readyz")).json()["status"] == "ready"
        await pg_proxy.down()
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["status"] == "degraded" and r.json()["failing"] == ["postgres"]
        assert (await client.get("/healthz")).status_code == 200  # alive: nothing to restart
        await pg_proxy.up()
        await redis_proxy.down()
        r = await client.get("/readyz")
        assert r.status_code == 503 and r.json()["failing"] == ["redis"]
        await redis_proxy.up()

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_for(ready, timeout=15)


async def test_a_webhook_is_stored_while_redis_is_away_and_answered_once_it_is_back(
    settings, runtime, worker, redis_proxy, test_env
):
    world = await make_world(runtime)
    async with _api(settings, redis_url=redis_proxy.url) as client:
        await redis_proxy.down()
        r = await _post(client, world.account_id, "hola")
        # The routing cache and the wake-up are Redis's; the message is Postgres's.
        assert r.status_code == 200 and r.json()["stored"] == 1, r.text
        await redis_proxy.up()

    # No wake-up reached the queue: the worker's sweeper finds the message in Postgres.
    async def answered() -> list[Any]:
        return await db_rows(test_env["DATABASE_URL"],
                             "SELECT text FROM messages WHERE direction = 'outbound'")

    replies = await wait_for(answered, timeout=30)
    assert [r["text"] for r in replies] == ["[sandbox] hola"]


async def test_the_api_waits_for_redis_at_start_up(settings, runtime, redis_proxy):
    await redis_proxy.down()
    answers: list[int] = []

    async def serve() -> None:
        async with _api(settings, redis_url=redis_proxy.url) as client:
            answers.append((await client.get("/readyz")).status_code)

    starting = asyncio.create_task(serve())

    async def kept_trying() -> bool:
        # More connection attempts than arq's own few before it gives up.
        return redis_proxy.turned_away >= 6

    await wait_for(kept_trying, timeout=60)
    assert not starting.done()  # still waiting: not exited
    await redis_proxy.up()
    await asyncio.wait_for(starting, timeout=60)
    assert answers == [200]
