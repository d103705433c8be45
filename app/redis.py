"""Redis connection settings for every client of a process (works with redis:// and Upstash's
rediss://). arq's pool is the process's one Redis client for jobs, locks, caches and events.

Every command is retried on a dropped or refused connection (a few times, exponential backoff
with jitter, each retry on a fresh connection), and an idle connection is checked with a PING
before use after HEALTH_CHECK_S: a Redis restart or a managed Redis's failover costs a short
wait, not an error, when it is over within about a second. Longer outages surface as
`redis.exceptions.ConnectionError` to the loops that call Redis, which back off and carry on
(app/outages.py)."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import Settings

COMMAND_RETRIES = 3
HEALTH_CHECK_S = 15
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
    # Waits of up to 0.1, 0.2, 0.4 s (random within): about a second in all.
    rs.retry = Retry(ExponentialWithJitterBackoff(cap=0.4, base=0.1), COMMAND_RETRIES)
    rs.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    return rs


def harden(client: Any) -> None:
    """Options arq's RedisSettings cannot carry, for connections the pool opens from now on:
    PING an idle connection before using it (a server restarted meanwhile closed it), and TCP
    keep-alive."""
    kwargs = client.connection_pool.connection_kwargs
    kwargs["health_check_interval"] = HEALTH_CHECK_S
    kwargs["socket_keepalive"] = True
