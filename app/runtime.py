"""The long-lived clients one process needs (API or worker), opened and closed together."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
from arq import create_pool
from arq.connections import ArqRedis
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import SessionFactory, create_engine, create_session_factory
from app.integrations import outbox
from app.media.store import MediaStore, open_store
from app.outages import DEPENDENCIES, backoff_s, is_redis_outage
from app.redis import harden, redis_settings

log = logging.getLogger("app.runtime")

SANDBOX_API_KEY = "sandbox"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis
    http: httpx.AsyncClient
    openai: AsyncOpenAI
    # Customers' files (app/media/store.py): local files or an S3-compatible bucket.
    media: MediaStore
    sandbox: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        await self.http.aclose()
        await self.openai.close()
        await self.media.close()
        await self.redis.aclose()
        await self.engine.dispose()
        if self.sandbox is not None:
            self.sandbox.stop()


def openai_client(settings: Settings) -> tuple[AsyncOpenAI, Any]:
    sandbox = None
    base_url = settings.openai_base_url
    if settings.sandbox_model and not base_url:
        # The sandbox model is loaded only when it answers (no OPENAI_API_KEY).
        from app.sandbox.fake_openai import create_app
        from app.sandbox.server import run_in_thread

        sandbox = run_in_thread(create_app(latency_ms=300))
        base_url = sandbox.url + "/v1"
        log.warning("OPENAI_API_KEY is not set: replies come from the sandbox model at %s", base_url)
    # One connection per job slot at most (a job makes one model call at a time), every one
    # of them kept alive: a pool larger than its keep-alive closes and reopens connections
    # under load (connection churn, each a TCP and TLS handshake).
    size = settings.worker_concurrency
    client = AsyncOpenAI(
        api_key=settings.openai_api_key or SANDBOX_API_KEY,
        base_url=base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        http_client=DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
        ),
    )
    return client, sandbox


# Young-generation collections every 10,000 allocations (default 700) and a full one only
# after 100 middle ones (default 10): a process holding thousands of websocket subscriptions
# or job coroutines has hundreds of thousands of long-lived objects, and full collections at
# the default pace stopped every connection for 0.3-0.9 s at a time (seen in the fan-out
# benchmark with 5,000 subscribers). Cycles are still collected, less often.
GC_THRESHOLDS = (10_000, 10, 100)


def tune_gc() -> None:
    """Call once a process has started: what exists by then lives as long as the process, so
    it is moved out of the collector's sight (gc.freeze), and the thresholds above apply.
    Once per process."""
    if gc.get_threshold() == GC_THRESHOLDS:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _redis_pool(settings: Settings) -> ArqRedis:
    """The process's Redis client; a server that is away at start-up is waited for (backoff
    with jitter), as it would be later: a process starts when its dependencies come back."""
    attempt = 0
    while True:
        try:
            redis = await create_pool(redis_settings(settings))
        except Exception as exc:
            if not is_redis_outage(exc) and not isinstance(exc, OSError):
                raise
            DEPENDENCIES.down("redis", exc)
            await asyncio.sleep(backoff_s(attempt, base=0.5, cap=5.0))
            attempt += 1
        else:
            DEPENDENCIES.up("redis")
            harden(redis)
            return redis


async def open_runtime(settings: Settings, *, pool_size: int | None = None,
                       pool_timeout: float | None = None) -> Runtime:
    # Every commit in this process writes the webhook deliveries its changes cause.
    outbox.install()
    engine = create_engine(settings, pool_size=pool_size, pool_timeout=pool_timeout)
    redis = await _redis_pool(settings)
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.graph_timeout_s, connect=5.0),
        # Sends to the Graph API: one per job slot at most, each kept alive for the next
        # (keep-alive as large as the pool: no connection is closed only to be reopened).
        limits=httpx.Limits(max_connections=settings.worker_concurrency,
                            max_keepalive_connections=settings.worker_concurrency),
    )
    client, sandbox = openai_client(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        redis=redis,
        http=http,
        openai=client,
        media=open_store(settings),
        sandbox=sandbox,
    )
