"""Which channel (and tenant, and agent) an inbound provider account belongs to.

Cache-aside in Redis: every webhook needs this lookup, and channels change rarely. Every change
to a channel or its agent deletes the key after commit (see channels.service.cache_key).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from app.channels.repository import live_channel_by_account
from app.channels.service import cache_key
from app.outages import DEPENDENCIES, is_redis_outage
from app.runtime import Runtime

# Unknown accounts are cached briefly too, so a flood for a stray number stays cheap.
NEGATIVE_TTL_S = 30


@dataclass(frozen=True)
class ChannelRoute:
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    provider_account_id: str
    status: str
    agent_id: uuid.UUID | None
    settings: dict[str, Any]


def _encode(route: ChannelRoute | None) -> bytes:
    if route is None:
        return b"null"
    return orjson.dumps({
        "id": str(route.id), "tenant_id": str(route.tenant_id), "kind": route.kind,
        "provider_account_id": route.provider_account_id, "status": route.status,
        "agent_id": str(route.agent_id) if route.agent_id else None, "settings": route.settings,
    })


def _decode(raw: bytes) -> ChannelRoute | None:
    data = orjson.loads(raw)
    if data is None:
        return None
    return ChannelRoute(
        id=uuid.UUID(data["id"]), tenant_id=uuid.UUID(data["tenant_id"]), kind=data["kind"],
        provider_account_id=data["provider_account_id"], status=data["status"],
        agent_id=uuid.UUID(data["agent_id"]) if data["agent_id"] else None,
        settings=data.get("settings") or {},
    )


async def route(rt: Runtime, kind: str, account_id: str) -> ChannelRoute | None:
    key = cache_key(kind, account_id)
    try:
        cached = await rt.redis.get(key)
    except Exception as exc:
        if not is_redis_outage(exc):
            raise
        # The cache is only a cache: with Redis away, Postgres answers (and nothing is cached).
        DEPENDENCIES.down("redis", exc)
        return await _lookup(rt, kind, account_id)
    DEPENDENCIES.up("redis")
    if cached is not None:
        return _decode(cached)
    result = await _lookup(rt, kind, account_id)
    ttl = rt.settings.cache_ttl_s if result is not None else NEGATIVE_TTL_S
    with contextlib.suppress(RedisError):
        await rt.redis.set(key, _encode(result), ex=ttl)
    return result


async def _lookup(rt: Runtime, kind: str, account_id: str) -> ChannelRoute | None:
    async with rt.sessions() as session:
        found = await live_channel_by_account(session, kind, account_id)
    result = None
    if found is not None:
        channel, agent = found
        result = ChannelRoute(
            id=channel.id, tenant_id=channel.tenant_id, kind=channel.kind,
            provider_account_id=channel.provider_account_id, status=channel.status,
            agent_id=agent.id if agent else None, settings=channel.settings or {},
        )
    return result
