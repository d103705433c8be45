"""Admission to the ingest endpoints: a bounded number of stores at once, a bounded wait, and
503 + Retry-After for everything past that (decision 10: saturation is graceful).

Without a bound, every request past the API's capacity stayed in flight: each one waited for a
pooled connection, the wait made more requests pile up behind it, and latency grew until
the load stopped. With one, a process runs at most `slots` stores (the pool's size, so no
store waits for a connection), lets at most `queued` more wait, each at most `wait_s`, and
refuses the rest at once, before reading the body: nothing is stored for a refused request,
and Meta (or the widget) delivers it again later. A refusal costs far less than a store, so
the process keeps answering at its peak rate while it refuses the excess.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import wraps

from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.http import error_response
from app.metrics import WEBHOOK_REQUESTS

# Seconds a refused sender is asked to wait: the excess of a burst, not an outage.
RETRY_AFTER_S = 1

Handler = Callable[[Request], Awaitable[Response]]


class AtCapacity(Exception):
    """Refused by admission: nothing was stored, the sender should retry later."""


class Admission:
    """Per process and per event loop (one is made at API start-up)."""

    def __init__(self, slots: int, queued: int, wait_s: float) -> None:
        self.slots = slots
        self.queued = queued
        self.wait_s = wait_s
        self._free = asyncio.Semaphore(slots)
        self.running = 0
        self.waiting = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(settings.ingest_concurrency or settings.db_pool_size,
                   settings.ingest_max_queued, settings.ingest_max_wait_ms / 1000)

    async def acquire(self) -> str | None:
        """None when admitted (call `release` after), else why not: "full" or "wait"."""
        if not self._free.locked():  # a free slot and no one waiting for one
            await self._free.acquire()  # returns at once
        elif self.waiting >= self.queued:
            return "full"
        else:
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_s):
                    await self._free.acquire()
            except TimeoutError:
                return "wait"
            finally:
                self.waiting -= 1
        self.running += 1
        return None

    def release(self) -> None:
        self.running -= 1
        self._free.release()

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """A slot for the block, or AtCapacity. A store that still waited past
        DB_POOL_TIMEOUT_S for a connection (the pool is shared with GraphQL) becomes
        AtCapacity too: nothing is lost, since what it stored before (a webhook's messages,
        ahead of its statuses) is recognised by its provider id when delivered again, and
        the sweeper wakes its conversations."""
        if await self.acquire() is not None:
            raise AtCapacity
        try:
            yield
        except PoolTimeout as exc:
            raise AtCapacity from exc
        finally:
            self.release()


def of(request: Request) -> Admission:
    admission: Admission = request.app.state.admission
    return admission


def refusal(endpoint: str) -> Response:
    WEBHOOK_REQUESTS.labels(endpoint, "at_capacity").inc()
    return error_response(503, "the service is at capacity; retry later", "UNAVAILABLE",
                          headers={"Retry-After": str(RETRY_AFTER_S)})


def admitted(endpoint: str) -> Callable[[Handler], Handler]:
    """The handler behind the app's `Admission`, before it reads the body; refusals are
    counted as `mca_webhook_requests_total{endpoint, result="at_capacity"}`."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request) -> Response:
            try:
                async with of(request).admit():
                    return await handler(request)
            except AtCapacity:
                return refusal(endpoint)

        return guarded

    return wrap
