"""Redis connection settings for every client of a process (works with redis:// and Upstash's
rediss://). arq's pool is the process's one Redis client for jobs, locks, caches and events."""

from __future__ import annotations

import asyncio
import logging

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError

from app.config import Settings

log = logging.getLogger("app.redis")

CONNECT_ATTEMPTS = 4


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_timeout = 5
    rs.conn_retries = 3
    rs.max_connections = settings.redis_max_connections
    return rs


async def create_redis(settings: Settings) -> ArqRedis:
    """The process's Redis client (arq's client class, so it also enqueues jobs) over a
    *blocking* pool of REDIS_MAX_CONNECTIONS: a call past the pool's size waits up to
    REDIS_POOL_TIMEOUT_S for a connection to come back. arq's default pool raises
    "Too many connections" at once instead, which under load turned a short wait into a storm
    of failed jobs and their retries. Connecting is retried a few times at start-up."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        socket_connect_timeout=5,
    )
    client = ArqRedis(pool)
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            await client.ping()
            return client
        except (TimeoutError, RedisError, OSError) as exc:
            if attempt == CONNECT_ATTEMPTS:
                await client.aclose(close_connection_pool=True)
                raise
            log.warning("redis connection failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
