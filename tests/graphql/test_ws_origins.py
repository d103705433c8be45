"""Which pages may open the GraphQL websocket: the API's own, the configured dashboard origins,
and, behind a trusted proxy that rewrites Host, the host named in X-Forwarded-Host."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.graphql.helpers import PROTOCOL, WS
from tests.live import LiveServer

DEV_SERVER = "http://localhost:5173"


def _with(settings: Any, **changes: Any) -> Any:
    return settings.model_copy(update=changes)


async def _handshake(live: LiveServer, world: Any, headers: dict[str, str]) -> str:
    """'ack' when the socket opened and authenticated, else the refused status code."""
    try:
        async with connect(live.ws_url, subprotocols=[PROTOCOL],  # type: ignore[list-item]
                           additional_headers=headers) as conn:
            return str((await WS(conn).init(world.api_key))["type"])
    except InvalidStatus as exc:
        return str(exc.response.status_code)


async def test_a_dashboard_on_another_origin_needs_to_be_allowed(serve, settings, world):
    default = serve()
    assert await _handshake(default, world, {"Origin": DEV_SERVER}) == "403"
    # Same origin as the API (the console) and clients without Origin are always let in.
    assert await _handshake(default, world, {"Origin": default.url}) == "connection_ack"
    assert await _handshake(default, world, {}) == "connection_ack"

    allowed = serve(_with(settings, dashboard_origins=f"{DEV_SERVER}, https://app.example.com"))
    assert await _handshake(allowed, world, {"Origin": DEV_SERVER}) == "connection_ack"
    assert await _handshake(allowed, world, {"Origin": "https://evil.example"}) == "403"


async def test_forwarded_host_counts_only_behind_a_trusted_proxy(serve, settings, world):
    # A proxy in front of the API that rewrites Host (Vite's changeOrigin, nginx's $proxy_host).
    proxied = {"Origin": "https://dash.example.com", "X-Forwarded-Host": "dash.example.com"}
    assert await _handshake(serve(), world, proxied) == "403"
    trusted = serve(_with(settings, trust_forwarded_host=True))
    assert await _handshake(trusted, world, proxied) == "connection_ack"
    assert await _handshake(trusted, world, {**proxied, "Origin": "https://evil.example"}) == "403"


def test_a_malformed_dashboard_origin_is_refused_at_start_up(settings):
    from app.config import Settings

    with pytest.raises(ValueError, match="Invalid origin"):
        Settings(dashboard_origins="https://app.example.com/path")
