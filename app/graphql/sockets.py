"""The authenticated websockets of one API process: the per-tenant cap, and revocation.

The cap (GRAPHQL_MAX_SOCKETS_PER_TENANT) counts a tenant's sockets on every API process: each
socket is a member of the tenant's sorted set in Redis, scored with an expiry that its process
renews every HEARTBEAT_S; a process that dies without closing its sockets stops renewing them,
and they stop counting after SOCKET_TTL_S.

A websocket checks its key once, at `connection_init`, and may then stay open for hours.
Revoking the key must still end it: `revoke_api_key` publishes a control notice after commit
(app/realtime/topics.py), every API process receives it on its hub's one Redis connection, and
each socket opened with that key here refuses every further operation and is closed with
4401. A notice published while the hub was reconnecting is lost, so after each reconnect the
keys of every open socket are checked in Postgres, in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from app.realtime.hub import Event, Hub
from app.realtime.topics import API_KEY_REVOKED
from app.runtime import Runtime
from app.tenants import repository as tenants

log = logging.getLogger("app.graphql.sockets")

CLOSE_REVOKED = 4401
CLOSE_TOO_MANY = 4429
SOCKET_TTL_S = 60
HEARTBEAT_S = SOCKET_TTL_S / 3

# Drop the tenant's expired sockets, then add this one unless the tenant is at its cap.
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def sockets_key(tenant_id: uuid.UUID) -> str:
    return f"mca:ws:{tenant_id}"


@dataclass(eq=False)
class LiveSocket:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    on_revoked: Callable[[], None]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # its member in Redis


class Sockets:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._by_tenant: dict[uuid.UUID, set[LiveSocket]] = {}
        self._by_key: dict[uuid.UUID, set[LiveSocket]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def attach(self, hub: Hub) -> None:
        hub.add_control_listener(self.on_control)
        self._heartbeat = asyncio.get_running_loop().create_task(self._renew_forever())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None

    async def open(self, tenant_id: uuid.UUID, key_id: uuid.UUID,
                   on_revoked: Callable[[], None]) -> LiveSocket | None:
        """Register a socket; None when the tenant already has its most sockets (all processes)."""
        sock = LiveSocket(tenant_id, key_id, on_revoked)
        now = time.time()
        redis: Any = self.rt.redis  # typed as sync-or-async by redis-py
        try:
            added = await redis.eval(
                _OPEN, 1, sockets_key(tenant_id), str(now),
                str(self.rt.settings.graphql_max_sockets_per_tenant),
                str(now + SOCKET_TTL_S), sock.id, str(SOCKET_TTL_S * 2000))  # key TTL: ms
        except (OSError, RedisError) as exc:
            # Without Redis the cap cannot be counted; dashboards matter more than the cap.
            log.warning("websocket cap not checked (Redis: %s)", exc)
            added = 1
        if not added:
            return None
        self._by_tenant.setdefault(tenant_id, set()).add(sock)
        self._by_key.setdefault(key_id, set()).add(sock)
        return sock

    def close(self, sock: LiveSocket) -> None:
        if sock not in self._by_tenant.get(sock.tenant_id, ()):
            return
        for index, key in ((self._by_tenant, sock.tenant_id), (self._by_key, sock.key_id)):
            group = index.get(key)
            if group is not None:
                group.discard(sock)
                if not group:
                    del index[key]
        self._spawn(self.rt.redis.zrem(sockets_key(sock.tenant_id), sock.id))

    async def renew(self) -> None:
        """Push the expiry of every socket of this process forward (one round trip)."""
        if not self._by_tenant:
            return
        expiry = time.time() + SOCKET_TTL_S
        async with self.rt.redis.pipeline(transaction=False) as pipe:
            for tenant_id, socks in self._by_tenant.items():
                key = sockets_key(tenant_id)
                pipe.zadd(key, {s.id: expiry for s in socks})
                pipe.pexpire(key, int(SOCKET_TTL_S * 2000))
            await pipe.execute()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.renew()
            except Exception as exc:  # the loop must outlive any one failure
                log.warning("could not renew this process's websockets in Redis: %s", exc)

    def revoke(self, key_id: uuid.UUID) -> int:
        """End every socket of this key; how many there were."""
        socks = list(self._by_key.get(key_id, ()))
        for sock in socks:
            self.close(sock)
            sock.on_revoked()
        return len(socks)

    def on_control(self, notice: Event | None) -> None:
        if notice is None:
            # Reconnected: a revocation may have been published while we were away.
            self._spawn(self.recheck())
        elif notice.get("type") == API_KEY_REVOKED:
            try:
                key_id = uuid.UUID(str(notice.get("keyId")))
            except ValueError:
                log.warning("ignoring a revocation notice without a key id")
                return
            if n := self.revoke(key_id):
                log.info("closed %d websocket(s) of a revoked API key", n)

    async def recheck(self) -> None:
        keys = list(self._by_key)
        if not keys:
            return
        async with self.rt.sessions() as session:
            revoked = await tenants.revoked_among(session, keys)
        for key_id in revoked:
            self.revoke(key_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("websocket bookkeeping failed: %s", task.exception())
