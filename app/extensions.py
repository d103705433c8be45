"""Where domains plug their routes and start-up work into the app (keeps main.py small)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from app.config import Settings
from app.runtime import Runtime


def extra_routes(settings: Settings) -> list[BaseRoute]:
    from starlette.routing import Route

    from app.webhooks import meta

    return [
        Route("/webhooks/meta", meta.verify, methods=["GET"]),
        Route("/webhooks/meta", meta.receive, methods=["POST"]),
    ]


async def on_startup(app: Starlette, runtime: Runtime) -> None:
    return None


async def on_shutdown(app: Starlette, runtime: Runtime) -> None:
    return None
