"""Riding through a Postgres or Redis outage: what counts as "the server is away", how long to
wait before the next attempt, and one record per process of which dependency is away.

Postgres is the source of truth and Redis only carries wake-ups, locks, caches and events, so
no outage of either may end a process: every loop that talks to them catches the errors named
here, waits (exponential backoff with full jitter, so a fleet of processes does not reconnect
in lock-step), and tries again. What was in flight is recovered by the lease and the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
from prometheus_client import Gauge
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError

log = logging.getLogger("app.outages")

# Defined beside the tracker that sets it (app/metrics.py reads outages, not the reverse).
DEPENDENCY_UP = Gauge(
    "mca_dependency_up",
    "0 while this process finds the dependency (postgres, redis) unreachable, else 1",
    ["dependency"],
)
for _dependency in ("postgres", "redis"):
    DEPENDENCY_UP.labels(_dependency).set(1)

T = TypeVar("T")

# asyncpg's errors for "no usable connection": refused or dropped sockets, a server shutting
# down or starting up (57P01-57P03, 08xxx), and a pooled connection found closed.
_PG_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    DisconnectionError,
)
_REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, BusyLoadingError,
)
# Raised while (re)connecting, whoever the peer is.
_SOCKET_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError, asyncio.TimeoutError)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wrapped (`orig`), and its causes and contexts."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen) or len(seen) > 10:
            continue
        seen.append(e)
        todo.extend((getattr(e, "orig", None), e.__cause__, e.__context__))
    return seen


def is_db_outage(exc: BaseException) -> bool:
    """True when `exc` says Postgres could not be reached or dropped the connection (not a
    query error: those are never retried)."""
    if is_redis_outage(exc):
        return False
    for e in _chain(exc):
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, _PG_ERRORS):
            return True
        if isinstance(e, asyncpg.InterfaceError) and "closed" in str(e):
            return True
        if isinstance(e, _SOCKET_ERRORS):
            return True
    return False


def is_redis_outage(exc: BaseException) -> bool:
    return any(isinstance(e, _REDIS_ERRORS) for e in _chain(exc))


def is_outage(exc: BaseException) -> bool:
    return is_redis_outage(exc) or is_db_outage(exc)


def which(exc: BaseException) -> str:
    return "redis" if is_redis_outage(exc) else "postgres"


def backoff_s(attempt: int, *, base: float = 0.05, cap: float = 2.0) -> float:
    """Full jitter: a random wait up to base * 2^attempt, at most `cap`."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 30)))


class Dependencies:
    """Which dependency this process found away, since when; logs each outage once and its end
    with its length, and exports `mca_dependency_up{dependency}`."""

    def __init__(self) -> None:
        self.away_since: dict[str, float] = {}

    def down(self, name: str, exc: BaseException | None = None) -> None:
        if name not in self.away_since:
            self.away_since[name] = time.monotonic()
            DEPENDENCY_UP.labels(name).set(0)
            log.warning("%s is unreachable (%s); retrying with backoff", name,
                        f"{type(exc).__name__}: {exc}" if exc is not None else "no answer")

    def up(self, name: str) -> None:
        since = self.away_since.pop(name, None)
        if since is not None:
            DEPENDENCY_UP.labels(name).set(1)
            log.warning("%s is back after %.1fs", name, time.monotonic() - since)

    def away(self) -> list[str]:
        return sorted(self.away_since)


# One per process: the worker's poll loop, the sweeper and /readyz write to it.
DEPENDENCIES = Dependencies()


class StillAway(Exception):
    """The dependency did not come back within the time allowed."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} unreachable")
        self.dependency = dependency


async def retry_outage(fn: Callable[[], Awaitable[T]], deadline: float) -> T:
    """Run `fn` again after connection errors (backoff with jitter) until it succeeds or the
    monotonic `deadline` passes (then StillAway). Any other error propagates at once. `fn` must
    be safe to repeat: each attempt takes a fresh connection from the pool."""
    attempt = 0
    away: set[str] = set()
    while True:
        try:
            result = await fn()
        except Exception as exc:
            if not is_outage(exc):
                raise
            name = which(exc)
            away.add(name)
            DEPENDENCIES.down(name, exc)
            wait = backoff_s(attempt, base=0.05, cap=0.5)
            if time.monotonic() + wait > deadline:
                raise StillAway(name) from exc
            attempt += 1
            await asyncio.sleep(wait)
        else:
            for name in away:
                DEPENDENCIES.up(name)
            return result


@dataclass
class _Gate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    riders: int = 0


class RideQueue:
    """One caller at a time per key (a customer), in arrival order.

    Retries with jitter race each other: two requests of one customer that both wait for the
    database (or for a Redis that does not answer) could be stored in either order once it is
    back. Queued here, the first to arrive goes first and the later ones wait behind it.
    Uncontended, entering costs a dict entry and a free lock."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def ride(self, keys: list[str]) -> AsyncIterator[None]:
        keys = sorted(set(keys))  # one order for everyone: no deadlock between two webhooks
        gates = [self._gates.setdefault(k, _Gate()) for k in keys]
        for g in gates:
            g.riders += 1
        try:
            async with contextlib.AsyncExitStack() as stack:
                for g in gates:
                    await stack.enter_async_context(g.lock)
                yield
        finally:
            for k, g in zip(keys, gates, strict=True):
                g.riders -= 1
                if not g.riders:
                    self._gates.pop(k, None)
