"""The Starlette application: lifespan (database, Redis, HTTP clients), routes, GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route

from app.config import Settings, get_settings
from app.health import healthz, readyz
from app.http import (
    CorrelationIdMiddleware,
    client_disconnected,
    http_exception_handler,
    unhandled_exception_handler,
)
from app.logs import configure_logging
from app.runtime import open_runtime, tune_gc


def _routes(settings: Settings) -> list[BaseRoute]:
    from app.extensions import extra_routes

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *extra_routes(settings),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await open_runtime(settings)
        app.state.runtime = runtime
        from app.extensions import on_shutdown, on_startup

        await on_startup(app, runtime)
        tune_gc()
        try:
            yield
        finally:
            await on_shutdown(app, runtime)
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
