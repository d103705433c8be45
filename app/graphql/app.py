"""The `/graphql` endpoint: HTTP (POST, and GET for queries) and `graphql-transport-ws`.

Websocket clients authenticate in `connection_init` (`{"authorization": "Bearer <key>"}`); a
bad key closes the socket with 4403 before any operation can start, a tenant over its
websocket cap (or an address over its anonymous budget) with 4429, and revoking the key later
closes it with 4401 (sockets.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.websocket_origin import is_same_origin
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UNSET, UnsetType

from app.config import Settings
from app.errors import RateLimited, Unauthenticated
from app.graphql import ratelimit
from app.graphql.context import Context
from app.graphql.errors import coded_error
from app.graphql.limits import MAX_OPERATIONS_PER_SOCKET
from app.graphql.schema import schema
from app.graphql.sockets import CLOSE_REVOKED, CLOSE_TOO_MANY, LiveSocket, Sockets
from app.http import read_limited

log = logging.getLogger("app.graphql")

PATH = "/graphql"


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    live: LiveSocket | None = None
    _closing: asyncio.Task[None] | None = None

    @property
    def sockets(self) -> Sockets:
        sockets: Sockets = self.context.request.app.state.sockets
        return sockets

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if not self.connection_init_received and isinstance(payload, dict):
            auth = payload.get("authorization") or payload.get("Authorization")
            self.context.authorization = auth if isinstance(auth, str) else None
            try:
                principal = await self.context.principal()
            except (Unauthenticated, RateLimited) as exc:
                # Closing here (not in on_ws_connect) lets the client read why.
                self.connection_init_received = True
                await ratelimit.hit(self.context.rt.redis,
                                    ratelimit.address_identity(self.context.client_address))
                code = 4403 if isinstance(exc, Unauthenticated) else CLOSE_TOO_MANY
                prefix = "Forbidden" if isinstance(exc, Unauthenticated) else "Too many requests"
                await self.websocket.close(code=code, reason=f"{prefix}: {exc.message}"[:120])
                return
            if principal.tenant_id is not None and principal.key_id is not None:
                self.live = await self.sockets.open(principal.tenant_id, principal.key_id,
                                                    self._revoked)
                if self.live is None:
                    self.connection_init_received = True
                    limit = self.context.rt.settings.graphql_max_sockets_per_tenant
                    await self.websocket.close(
                        code=CLOSE_TOO_MANY,
                        reason=f"Too many connections: at most {limit} per tenant"[:120])
                    return
        await super().handle_connection_init(message)

    def _revoked(self) -> None:
        """The key was revoked (sockets.py): refuse everything, then close (not awaited here:
        called from the hub's task, which must never wait on one socket)."""
        if self.live is not None:
            self.sockets.close(self.live)
            self.live = None
        self.context.revoke()
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close_revoked())

    async def _close_revoked(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        try:
            await self.websocket.close(code=CLOSE_REVOKED, reason="Unauthorized: API key revoked")
        except Exception as exc:  # the client may be gone already
            log.debug("closing a revoked socket: %s", exc)

    async def shutdown(self) -> None:
        if self.live is not None:
            self.sockets.close(self.live)
            self.live = None
        await super().shutdown()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self._closing is not None:
            return
        if self.connection_acknowledged and not await self.context.still_valid():
            self._revoked()
            return
        if self.connection_acknowledged and len(self.operations) >= MAX_OPERATIONS_PER_SOCKET:
            error = coded_error(
                f"too many operations on this connection: at most {MAX_OPERATIONS_PER_SOCKET} "
                "may run at once; complete one or open another connection",
                "TOO_MANY_SUBSCRIPTIONS",
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = _TransportWSHandler
    trust_forwarded_host = False

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        # Called only for handshakes that are not same-origin by their Host header. A trusted
        # proxy that rewrote Host says in X-Forwarded-Host which host the browser addressed.
        forwarded = request.headers.get("x-forwarded-host") if self.trust_forwarded_host else None
        if forwarded and is_same_origin(origin, forwarded.split(",")[0].strip()):
            return True
        return super().is_websocket_origin_allowed(request, origin)

    async def _websocket(self, ws: WebSocket) -> None:
        """A client asking only for another subprotocol (the legacy `graphql-ws`) is refused at
        the handshake with a body that says why: accepted without a subprotocol, it would see
        nothing but an abnormal close (1006)."""
        if await self.pick_websocket_subprotocol(ws) is None:
            refusal = JSONResponse(
                {"code": "SUBPROTOCOL_NOT_ACCEPTABLE",
                 "message": f"use the {GRAPHQL_TRANSPORT_WS_PROTOCOL} subprotocol"},
                status_code=400,
            )
            if "websocket.http.response" in ws.scope.get("extensions", {}):
                await ws.send_denial_response(refusal)
            else:
                await ws.close(code=4406, reason="Subprotocol not acceptable")
            return
        await self.run(ws)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST body is read here first, at most GRAPHQL_MAX_BODY_BYTES of it (413 beyond)
        and UTF-8 only (400 otherwise), before strawberry parses it. A websocket handshake is
        checked for its subprotocol first (_websocket)."""
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive=receive, send=send))
            return
        if scope["type"] == "http" and scope.get("method") == "POST":
            request = Request(scope, receive)
            limit = request.app.state.runtime.settings.graphql_max_body_bytes
            body = await read_limited(request, limit)  # ClientDisconnect: see app/http.py
            refusal = None
            if body is None:
                refusal = _refusal(413, f"body larger than {limit} bytes", "PAYLOAD_TOO_LARGE")
            else:
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError:
                    refusal = _refusal(400, "body is not UTF-8 JSON", "BAD_REQUEST")
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            receive = _replay(body or b"", receive)
        await super().__call__(scope, receive, send)

    def encode_json(self, data: object) -> str:
        # orjson: a page of 50 conversations took ~5 % of its CPU in the standard library's
        # encoder. A str, not bytes: websocket messages must stay text frames.
        return orjson.dumps(data).decode()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        authorization = None if isinstance(request, WebSocket) else request.headers.get("authorization")
        return Context(state.runtime, state.hub, request, response, authorization)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            await context.principal()
        except Unauthenticated:
            raise ConnectionRejectionError({"reason": "invalid API key"}) from None
        unset: UnsetType = UNSET
        return unset


def _refusal(status: int, message: str, code: str) -> Response:
    """A request refused before parsing, in the shape every GraphQL error has."""
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]},
                        status_code=status)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that hands out the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def graphql_app(settings: Settings) -> GraphQLApp:
    app = GraphQLApp(
        schema,
        graphql_ide=None if settings.is_production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
        allowed_origins=sorted(settings.dashboard_origin_set),
    )
    app.trust_forwarded_host = settings.trust_forwarded_host
    return app


def routes(settings: Settings) -> list[BaseRoute]:
    endpoint: Any = graphql_app(settings)
    return [
        Route(PATH, endpoint, methods=["GET", "POST"]),
        WebSocketRoute(PATH, endpoint),
    ]
