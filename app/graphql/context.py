"""The per-request (HTTP) or per-connection (websocket) context, and who is calling.

Authentication is lazy and memoised: the API key is looked up once, on the first resolver that
needs it, so a request the rate limiter refuses never reaches the database.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from app.crypto import hash_api_key
from app.errors import Unauthenticated
from app.graphql.loaders import Loaders
from app.runtime import Runtime
from app.tenants import repository as tenants

if TYPE_CHECKING:
    from app.realtime.hub import Hub


@dataclass(frozen=True)
class Principal:
    """A tenant's API key, or the platform admin key (tenant_id None)."""

    tenant_id: uuid.UUID | None

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <API key>'")
    token = bearer_token(authorization)
    if token is None:
        raise Unauthenticated("the Authorization value must be 'Bearer <API key>'")
    admin = rt.settings.admin_api_key
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(tenant_id=None)
    async with rt.sessions() as session:
        tenant = await tenants.tenant_for_api_key(session, token)
    if tenant is None:
        raise Unauthenticated("invalid or revoked API key")
    return Principal(tenant_id=tenant.id)


class Context:
    def __init__(
        self,
        rt: Runtime,
        hub: Hub,
        request: Request | WebSocket,
        response: Response | WebSocket | None,
        authorization: str | None,
    ) -> None:
        self.rt = rt
        self.hub = hub
        self.request = request
        self.response = response
        self.authorization = authorization
        # Set by strawberry from the websocket's connection_init payload.
        self.connection_params: dict[str, Any] | None = None
        self.is_websocket = isinstance(request, WebSocket)
        # The principal once known, or why authentication failed.
        self._auth: Principal | str | None = None
        self._auth_lock = asyncio.Lock()
        self._loaders: Loaders | None = None

    @property
    def rate_key(self) -> str | None:
        """Who the rate limit counts against: a hash of the presented key, never the key."""
        token = bearer_token(self.authorization)
        return hash_api_key(token)[:32] if token else None

    async def principal(self) -> Principal:
        if self._auth is None:
            async with self._auth_lock:
                if self._auth is None:
                    try:
                        self._auth = await authenticate(self.rt, self.authorization)
                    except Unauthenticated as exc:
                        self._auth = exc.message
        if isinstance(self._auth, str):
            raise Unauthenticated(self._auth)
        return self._auth

    @property
    def loaders(self) -> Loaders:
        """DataLoaders of this request (of this connection, uncached, for a websocket)."""
        if self._loaders is None:
            if not isinstance(self._auth, Principal) or self._auth.tenant_id is None:
                raise RuntimeError("loaders are used only below a resolver that required a tenant")
            # A websocket lives for hours: caching there would serve stale rows, while
            # batching within one event still pays off.
            self._loaders = Loaders(self.rt, self._auth.tenant_id, cache=not self.is_websocket)
        return self._loaders


Info = StrawberryInfo[Context, None]
