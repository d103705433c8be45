"""Every Redis pub/sub topic name and event shape, in one place."""

from __future__ import annotations

from typing import Any

import orjson

EVENTS_PATTERN = "mca:events:*"


def tenant_topic(tenant_id: str) -> str:
    return f"mca:events:{tenant_id}"


async def publish_events(redis: Any, events: list[tuple[str, dict[str, Any]]]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for tenant_id, event in events:
            pipe.publish(tenant_topic(tenant_id), orjson.dumps(event))
        await pipe.execute()
