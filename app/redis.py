"""Redis connection settings for every client of a process (works with redis:// and Upstash's
rediss://). arq's pool is the process's one Redis client for jobs, locks, caches and events."""

from __future__ import annotations

from arq.connections import RedisSettings

from app.config import Settings


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_timeout = 5
    rs.conn_retries = 3
    rs.max_connections = settings.redis_max_connections
    return rs
