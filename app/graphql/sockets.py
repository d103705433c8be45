"""The authenticated websockets of one API process: the per-tenant cap, and revocation.

A websocket checks its key once, at `connection_init`, and may then stay open for hours.
Revoking the key must still end it: `revoke_api_key` publishes a control notice after commit
(app/realtime/topics.py), every API process receives it on its hub's one Redis connection, and
each socket opened with that key here refuses every further operation and is closed with
4401. A notice published while the hub was reconnecting is lost, so after each reconnect the
keys of every open socket are checked in Postgres, in one query.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.realtime.hub import Event, Hub
from app.realtime.topics import API_KEY_REVOKED
from app.runtime import Runtime
from app.tenants import repository as tenants

log = logging.getLogger("app.graphql.sockets")

CLOSE_REVOKED = 4401
CLOSE_TOO_MANY = 4429


@dataclass(eq=False)
class LiveSocket:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    on_revoked: Callable[[], None]


class Sockets:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._by_tenant: dict[uuid.UUID, set[LiveSocket]] = {}
        self._by_key: dict[uuid.UUID, set[LiveSocket]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def attach(self, hub: Hub) -> None:
        hub.add_control_listener(self.on_control)

    def count(self, tenant_id: uuid.UUID) -> int:
        return len(self._by_tenant.get(tenant_id, ()))

    def open(self, tenant_id: uuid.UUID, key_id: uuid.UUID,
             on_revoked: Callable[[], None]) -> LiveSocket | None:
        """Register a socket; None when the tenant already has its most sockets here."""
        if self.count(tenant_id) >= self.rt.settings.graphql_max_sockets_per_tenant:
            return None
        sock = LiveSocket(tenant_id, key_id, on_revoked)
        self._by_tenant.setdefault(tenant_id, set()).add(sock)
        self._by_key.setdefault(key_id, set()).add(sock)
        return sock

    def close(self, sock: LiveSocket) -> None:
        for index, key in ((self._by_tenant, sock.tenant_id), (self._by_key, sock.key_id)):
            group = index.get(key)
            if group is not None:
                group.discard(sock)
                if not group:
                    del index[key]

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
            log.warning("checking open websockets' keys failed: %s", task.exception())
