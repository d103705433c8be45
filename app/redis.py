"""Redis client factory (works with redis:// and Upstash's rediss://)."""

from __future__ import annotations

from redis.asyncio import Redis

from app.config import Settings


def create_redis(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    client: Redis = Redis.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        decode_responses=False,
        health_check_interval=30,
        socket_keepalive=True,
    )
    return client
