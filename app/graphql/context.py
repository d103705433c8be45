"""The per-request (HTTP) or per-connection (websocket) context, and who is calling.

Authentication is memoised: the API key is looked up once per request (once per websocket, at
`connection_init`). The lookup is one hand-written statement on a pooled driver connection
(an index read, no session); a key that is not found is remembered for a minute, and an
address that has used up its anonymous budget is refused before any lookup, unless the key
was found valid in the last minute (app/graphql/ratelimit.py).
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
from app.db import driver_connection
from app.errors import DomainError, RateLimited, Unauthenticated
from app.graphql import ratelimit
from app.graphql.loaders import Loaders
from app.http import error_response
from app.runtime import Runtime
from app.tenants import repository as tenants

if TYPE_CHECKING:
    from app.realtime.hub import Hub


@dataclass(frozen=True)
class Principal:
    """A tenant's API key, or the platform admin key (tenant_id and key_id None). An
    operator's key also names the operator; a machine's key does not."""

    tenant_id: uuid.UUID | None
    key_id: uuid.UUID | None = None
    operator_id: uuid.UUID | None = None

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


INVALID_KEY = "invalid or revoked API key"


async def authenticate(rt: Runtime, authorization: str | None, address: str) -> Principal:
    if not authorization:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <API key>'")
    token = bearer_token(authorization)
    if token is None:
        raise Unauthenticated("the Authorization value must be 'Bearer <API key>'")
    admin = rt.settings.admin_api_key
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(tenant_id=None)
    key_hash = hash_api_key(token)
    if key_hash in ratelimit.known_bad:
        raise Unauthenticated(INVALID_KEY)
    if key_hash not in ratelimit.known_good:
        count, retry_after = await ratelimit.used(rt.redis, ratelimit.address_identity(address))
        limit = rt.settings.graphql_anon_rate_per_minute
        if count >= limit:
            raise RateLimited(
                f"rate limit exceeded: {limit} requests per minute without a valid API key from "
                f"this address; retry in {retry_after}s"
            )
    async with driver_connection(rt.engine) as conn:
        identity = await tenants.key_identity(conn, key_hash)
    if identity is None:
        ratelimit.known_bad.add(key_hash)
        raise Unauthenticated(INVALID_KEY)
    ratelimit.known_good.add(key_hash)
    return Principal(tenant_id=identity[0], key_id=identity[1], operator_id=identity[2])


async def rest_tenant(request: Request, refusal: str) -> Principal | Response:
    """The caller of a REST endpoint by its tenant API key, or the response refusing it: 401
    (no or a bad key), 429 (too many bad keys from this address), 403 with `refusal` (the
    admin key: the endpoint works on one tenant's data)."""
    rt: Runtime = request.app.state.runtime
    try:
        principal = await authenticate(rt, request.headers.get("authorization"),
                                       request.client.host if request.client else "")
    except Unauthenticated as exc:
        return error_response(401, exc.message)
    except RateLimited as exc:
        return error_response(429, exc.message, headers={"Retry-After": "60"})
    if principal.tenant_id is None:
        return error_response(403, refusal)
    return principal


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
        self._auth: Principal | DomainError | None = None
        self._auth_lock = asyncio.Lock()
        self._loaders: Loaders | None = None

    @property
    def client_address(self) -> str:
        """The caller's address as uvicorn reports it (behind a proxy: FORWARDED_ALLOW_IPS)."""
        client = self.request.client
        return client.host if client is not None else "unknown"

    async def principal(self) -> Principal:
        if self._auth is None:
            async with self._auth_lock:
                if self._auth is None:
                    try:
                        self._auth = await authenticate(
                            self.rt, self.authorization, self.client_address)
                    except (Unauthenticated, RateLimited) as exc:
                        self._auth = exc
        if isinstance(self._auth, DomainError):
            raise type(self._auth)(self._auth.message)
        return self._auth

    async def still_valid(self) -> bool:
        """For a websocket, before each operation: is the key it opened with still live?

        One index read, as every HTTP request pays; it closes the window between a revocation's
        commit and its notice reaching this process."""
        if not isinstance(self._auth, Principal) or self._auth.key_id is None:
            return not self.revoked
        token = bearer_token(self.authorization)
        if token is None:
            return False
        async with driver_connection(self.rt.engine) as conn:
            identity = await tenants.key_identity(conn, hash_api_key(token))
        if identity is None:
            self.revoke()
            return False
        return True

    def revoke(self) -> None:
        """The key this websocket authenticated with was revoked: refuse everything from now."""
        self._auth = Unauthenticated(INVALID_KEY)

    @property
    def revoked(self) -> bool:
        return isinstance(self._auth, Unauthenticated)

    @property
    def loaders(self) -> Loaders:
        """DataLoaders of this request (of this connection, uncached, for a websocket)."""
        if self._loaders is None:
            if not isinstance(self._auth, Principal) or self._auth.tenant_id is None:
                raise RuntimeError("loaders are used only below a resolver that required a tenant")
            # A websocket lives for hours: caching there would serve stale rows, while
            # batching within one event still pays off.
            self._loaders = Loaders(self.rt, self._auth.tenant_id, cache=not self.is_websocket,
                                    operator_id=self._auth.operator_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
