"""The Starlette application: lifespan (database, Redis, HTTP clients), routes, GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route

from app import web
from app.config import Settings, get_settings
from app.graphql.app import routes as graphql_routes
from app.graphql.sockets import Sockets
from app.health import healthz, readyz
from app.http import (
    CorrelationIdMiddleware,
    client_disconnected,
    http_exception_handler,
    unhandled_exception_handler,
)
from app.leads.export import leads_csv
from app.logs import configure_logging
from app.media.api import routes as media_routes
from app.metrics import metrics, serves_metrics
from app.realtime.hub import Hub
from app.runtime import Runtime, open_runtime, tune_gc
from app.webchat.stream import routes as webchat_routes
from app.webhooks import meta
from app.webhooks.admission import Admission, admitted


def _routes(settings: Settings) -> list[BaseRoute]:
    # Production without METRICS_TOKEN has no /metrics route: the plain 404 of any unknown path.
    metric_routes = [Route("/metrics", metrics, methods=["GET"])] if serves_metrics(settings) else []
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *graphql_routes(settings),
        *metric_routes,
        Route("/export/leads.csv", leads_csv, methods=["GET"]),
        Route("/webhooks/meta", meta.verify, methods=["GET"]),
        Route("/webhooks/meta", admitted("meta")(meta.receive), methods=["POST"]),
        *webchat_routes(),
        *media_routes(),
        *web.routes(),
    ]


async def _on_startup(app: Starlette, runtime: Runtime) -> None:
    # Bounded ingest (Meta webhook, widget message): at capacity, 503 + Retry-After at once.
    app.state.admission = Admission.from_settings(runtime.settings)
    # The process's one Redis pub/sub connection, shared by every subscription (GraphQL, widget)
    # and by the websockets' revocation notices.
    app.state.hub = Hub(runtime.settings.required("redis_url"))
    app.state.sockets = Sockets(runtime)
    app.state.sockets.attach(app.state.hub)
    await app.state.hub.start()


async def _on_shutdown(app: Starlette) -> None:
    sockets = getattr(app.state, "sockets", None)
    if sockets is not None:
        await sockets.stop()
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await open_runtime(settings)
        app.state.runtime = runtime
        await _on_startup(app, runtime)
        tune_gc()
        try:
            yield
        finally:
            await _on_shutdown(app)
            await runtime.close()

    app = Starlette(
        routes=_routes(settings),
        middleware=[Middleware(CorrelationIdMiddleware)],
        exception_handlers={
            HTTPException: http_exception_handler,
            ClientDisconnect: client_disconnected,
            Exception: unhandled_exception_handler,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def app_factory() -> Starlette:
    """Entry point for `uvicorn --factory app.main:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, json_logs=settings.is_production)
    return create_app(settings)
