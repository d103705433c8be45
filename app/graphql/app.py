"""The `/graphql` endpoint: HTTP (POST, and GET for queries) and `graphql-transport-ws`.

Websocket clients authenticate in `connection_init` (`{"authorization": "Bearer <key>"}`); a
bad key closes the socket with 4403 before any operation can start.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
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
from app.errors import Unauthenticated
from app.graphql.context import Context
from app.graphql.errors import coded_error
from app.graphql.limits import MAX_OPERATIONS_PER_SOCKET
from app.graphql.schema import schema

log = logging.getLogger("app.graphql")

PATH = "/graphql"


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if not self.connection_init_received and isinstance(payload, dict):
            auth = payload.get("authorization") or payload.get("Authorization")
            self.context.authorization = auth if isinstance(auth, str) else None
            try:
                await self.context.principal()
            except Unauthenticated as exc:
                # Closing here (not in on_ws_connect) lets the client read why.
                self.connection_init_received = True
                await self.websocket.close(code=4403, reason=f"Forbidden: {exc.message}"[:120])
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
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


def graphql_app(settings: Settings) -> GraphQLApp:
    return GraphQLApp(
        schema,
        graphql_ide=None if settings.is_production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
    )


def routes(settings: Settings) -> list[BaseRoute]:
    endpoint: Any = graphql_app(settings)
    return [
        Route(PATH, endpoint, methods=["GET", "POST"]),
        WebSocketRoute(PATH, endpoint),
    ]
