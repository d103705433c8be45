"""The ordering lock: a Redis lease for speed, a Postgres lease for fencing (DESIGN decision 3).

Redis decides quickly who works on an ordering key (SET NX PX, a random token, renewal while
held, compare-and-delete release). Postgres decides who may *commit*: each commit of the holder
re-checks and extends its row in `ordering_leases` in the same transaction. A holder whose lease
lapsed (a long GC pause, a partition) or whose Redis key vanished (FLUSHALL, failover) finds
its token gone or expired and rolls back instead of writing over the next holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.outages import is_outage
from app.runtime import Runtime

log = logging.getLogger("app.pipeline.lock")

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

# Taking, renewing and dropping are single statements that commit by themselves (asyncpg
# placeholders, on a driver connection); the fence runs inside the holder's transactions.
_TAKE_LEASE = """
INSERT INTO ordering_leases (key, token, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
WHERE ordering_leases.expires_at < now() OR ordering_leases.token = excluded.token
RETURNING token
"""
_EXTEND_LEASE = """
UPDATE ordering_leases SET expires_at = now() + make_interval(secs => $3)
WHERE key = $1 AND token = $2 AND expires_at > now()
RETURNING token
"""
_DROP_LEASE = "DELETE FROM ordering_leases WHERE key = $1 AND token = $2"
_LIVE_KEYS = text("SELECT key FROM ordering_leases WHERE key = ANY(:keys) AND expires_at > now()")


class LeaseLost(Exception):
    """This worker no longer holds the ordering key; its transaction must not commit."""


def lock_key(ordering_key: str) -> str:
    return f"mca:lock:{ordering_key}"


async def live_leases(session: AsyncSession, keys: list[str]) -> set[str]:
    rows = await session.execute(_LIVE_KEYS, {"keys": keys})
    return {r[0] for r in rows}


class OrderingLock:
    def __init__(self, rt: Runtime, ordering_key: str) -> None:
        self.rt = rt
        self.key = ordering_key
        self.token = uuid.uuid4().hex
        self.ttl_ms = rt.settings.lock_ttl_ms
        self.lost = False
        self._renewer: asyncio.Task[None] | None = None
        # Every fenced commit also extends the Postgres lease; renewal skips it when one did.
        self._pg_extended_at = 0.0

    @property
    def _ttl_s(self) -> float:
        return self.ttl_ms / 1000

    @property
    def lease_ends(self) -> float:
        """When the Postgres lease lapses at the latest unless extended (monotonic clock)."""
        return self._pg_extended_at + self._ttl_s

    async def acquire(self) -> bool:
        redis = self.rt.redis
        if not await redis.set(lock_key(self.key), self.token, nx=True, px=self.ttl_ms):
            return False
        try:
            async with driver_connection(self.rt.engine) as conn:
                taken = await conn.fetchval(_TAKE_LEASE, self.key, self.token, self._ttl_s)
        except BaseException:
            # Postgres is away: let the key go now rather than at its expiry, so the job the
            # sweeper starts once it is back is not turned away as "busy".
            with contextlib.suppress(Exception):
                await self._eval(_RELEASE, self.token)
            raise
        if taken is None:
            # Redis forgot a lock that Postgres still sees as held: the holder is alive.
            await self._eval(_RELEASE, self.token)
            return False
        self._pg_extended_at = time.monotonic()
        self._renewer = asyncio.create_task(self._renew_forever())
        return True

    async def _eval(self, script: str, *args: str) -> Any:
        redis: Any = self.rt.redis
        return await redis.eval(script, 1, lock_key(self.key), *args)

    async def fence(self, session: AsyncSession) -> None:
        """Call inside every transaction the holder commits (usually as its first statement:
        sent as written, with no statement compilation, it also begins the transaction)."""
        conn = await session.connection()
        ok = (await conn.exec_driver_sql(
            _EXTEND_LEASE, (self.key, self.token, self._ttl_s)
        )).scalar()
        if ok is None:
            self.lost = True
            raise LeaseLost(self.key)
        self._pg_extended_at = time.monotonic()

    async def renew(self) -> bool:
        # Postgres first: the fencing lease is what lets this holder commit, and it must not
        # lapse because Redis is away at this moment.
        if time.monotonic() - self._pg_extended_at >= self._ttl_s / 3:
            async with driver_connection(self.rt.engine) as conn:
                pg = await conn.fetchval(_EXTEND_LEASE, self.key, self.token, self._ttl_s)
            if pg is None:
                self.lost = True
                return False
            self._pg_extended_at = time.monotonic()
        ok = await self._eval(_RENEW, self.token, str(self.ttl_ms))
        if not ok:
            # Redis lost the key (flush, restart, failover) but our fencing lease is intact:
            # restore it.
            await self.rt.redis.set(lock_key(self.key), self.token, nx=True, px=self.ttl_ms)
        return True

    async def _renew_forever(self) -> None:
        while not self.lost:
            await asyncio.sleep(self._ttl_s / 3)
            try:
                if not await self.renew():
                    log.warning("ordering lease lost: %s", self.key)
                    return
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("renewing the ordering lease failed: %s", self.key)
                # An outage: the next renewal tries again; the fence decides at commit time.

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        try:
            async with driver_connection(self.rt.engine) as conn:
                await conn.execute(_DROP_LEASE, self.key, self.token)
        except Exception as exc:
            # Postgres is away: the lease lapses within LOCK_TTL_MS by itself.
            if not is_outage(exc):
                raise
        finally:
            try:
                await self._eval(_RELEASE, self.token)
            except Exception as exc:
                # Redis is away: the key lapses within LOCK_TTL_MS by itself (or Redis came
                # back empty and it is gone already).
                if not is_outage(exc):
                    raise
