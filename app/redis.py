"""Redis connection settings for every client of a process (works with redis:// and Upstash's
rediss://). arq's pool is the process's one Redis client for jobs, locks, caches and events."""

from __future__ import annotations

from arq.connections import RedisSettings

from app.config import Settings

# Headroom above the job slots: arq's poll, the sweeper, lease renewals.
HEADROOM = 20


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_timeout = 5
    rs.conn_retries = 3
    # Sized to the concurrency: redis-py's pool fails a call at once past its size ("Too many
    # connections"), and a worker's failed job is retried, more work for the same pool. A pool
    # that waits instead (redis-py's BlockingConnectionPool, or a semaphore in front of this
    # one) was measured: worker CPU per answered message rose from 6.5 to 9-10 ms and the API
    # fell behind at 40 webhooks/s, so the pool is simply large enough for every job slot.
    # Connections are made one at a time under the pool's lock, so a burst reuses the ones
    # that come back rather than opening many.
    rs.max_connections = max(settings.redis_max_connections, settings.worker_concurrency + HEADROOM)
    return rs
