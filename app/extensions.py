"""Where domains plug their routes and start-up work into the app (keeps main.py small)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from app.config import Settings
from app.runtime import Runtime


def extra_routes(settings: Settings) -> list[BaseRoute]:
    from starlette.routing import Route

    from app import web
    from app.graphql.app import routes as graphql_routes
    from app.metrics import metrics
    from app.webhooks import meta, widget

    return [
        *graphql_routes(settings),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/webhooks/meta", meta.verify, methods=["GET"]),
        Route("/webhooks/meta", meta.receive, methods=["POST"]),
        *widget.routes(),
        *web.routes(),
    ]


async def on_startup(app: Starlette, runtime: Runtime) -> None:
    from app.realtime.hub import Hub

    # The process's one Redis pub/sub connection, shared by every subscription (GraphQL, widget).
    app.state.hub = Hub(runtime.settings.required("redis_url"))
    await app.state.hub.start()


async def on_shutdown(app: Starlette, runtime: Runtime) -> None:
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()
