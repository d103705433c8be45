"""The per-process hub: one Redis connection, fan-out by tenant / conversation / event type,
and a slow subscriber that cannot hold the others up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from app.realtime.hub import Gap, Hub
from app.realtime.topics import tenant_topic


@pytest.fixture
async def redis(test_env: dict[str, str], clean: None) -> AsyncIterator[Redis]:
    r = Redis.from_url(test_env["REDIS_URL"])
    try:
        yield r
    finally:
        await r.aclose()


@pytest.fixture
async def hub(test_env: dict[str, str], clean: None) -> AsyncIterator[Hub]:
    h = Hub(test_env["REDIS_URL"], queue_size=5, name=f"hub-test-{uuid.uuid4().hex[:8]}")
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


async def publish(redis: Redis, tenant: str, event: dict[str, Any]) -> None:
    await redis.publish(tenant_topic(tenant), orjson.dumps(event))


async def drain(sub: Any, timeout: float = 0.3) -> list[Any]:
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(sub.get(), timeout))
    except TimeoutError:
        return got


async def test_one_redis_connection_whatever_the_number_of_subscribers(hub, redis):
    subs = [hub.subscribe(f"tenant-{i % 7}", None) for i in range(500)]
    for s in subs:
        s.__enter__()
    try:
        clients = (await redis.execute_command("CLIENT", "LIST", "TYPE", "pubsub")).decode()
        assert sum(f"name={hub.name} " in line for line in clients.splitlines()) == 1
        assert hub.subscriber_count == 500
    finally:
        for s in subs:
            s.__exit__(None, None, None)
    assert hub.subscriber_count == 0


async def test_events_go_to_the_right_tenant_conversation_and_types(hub, redis):
    with hub.subscribe("t1", "c1") as c1, hub.subscribe("t1", "c2") as c2, \
            hub.subscribe("t1") as every, hub.subscribe("t2") as stranger, \
            hub.subscribe("t1", types=frozenset({"CreditBalance"})) as credits:
        await publish(redis, "t1", {"type": "MessageCreated", "conversationId": "c1", "n": 1})
        await publish(redis, "t1", {"type": "MessageCreated", "conversationId": "c2", "n": 2})
        await publish(redis, "t1", {"type": "CreditBalance", "balance": 5})
        await redis.publish(tenant_topic("t1"), b"not json")
        assert [e["n"] for e in await drain(c1)] == [1]
        assert [e["n"] for e in await drain(c2)] == [2]
        assert [e.get("n", e.get("balance")) for e in await drain(every)] == [1, 2, 5]
        assert [e["balance"] for e in await drain(credits)] == [5]
        assert await drain(stranger) == []


async def test_a_slow_subscriber_gets_a_gap_and_does_not_stall_the_others(hub, redis):
    with hub.subscribe("t1") as slow, hub.subscribe("t1") as fast:
        received: list[int] = []

        async def consume() -> None:
            while len(received) < 20:
                item = await fast.get()
                assert not isinstance(item, Gap)
                received.append(item["n"])

        consumer = asyncio.create_task(consume())
        for n in range(20):
            await publish(redis, "t1", {"type": "MessageCreated", "conversationId": "c", "n": n})
            await asyncio.sleep(0.005)
        await asyncio.wait_for(consumer, 5)
        assert received == list(range(20))
        backlog = await drain(slow)
        assert any(isinstance(item, Gap) and item.reason == "overflow" for item in backlog)
        assert len(backlog) <= 5
        # What follows the gap is the newest events, in order.
        after_gap = [i["n"] for i in backlog[[isinstance(i, Gap) for i in backlog].index(True) + 1:]]
        assert after_gap == sorted(after_gap) and (not after_gap or after_gap[-1] == 19)
        assert hub.stats.overflows >= 1 and slow.dropped > 0
