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
    from app.leads.export import leads_csv
    from app.metrics import metrics, serves_metrics
    from app.webhooks import meta, widget
    from app.webhooks.admission import admitted

    # Production without METRICS_TOKEN has no /metrics route: the plain 404 of any unknown path.
    metric_routes = [Route("/metrics", metrics, methods=["GET"])] if serves_metrics(settings) else []
    return [
        *graphql_routes(settings),
        *metric_routes,
        Route("/export/leads.csv", leads_csv, methods=["GET"]),
        Route("/webhooks/meta", meta.verify, methods=["GET"]),
        Route("/webhooks/meta", admitted("meta")(meta.receive), methods=["POST"]),
        *widget.routes(),
        *web.routes(),
    ]


async def on_startup(app: Starlette, runtime: Runtime) -> None:
    from app.graphql.sockets import Sockets
    from app.realtime.hub import Hub
    from app.webhooks.admission import Admission

    # Bounded ingest (Meta webhook, widget message): at capacity, 503 + Retry-After at once.
    app.state.admission = Admission.from_settings(runtime.settings)

    # The process's one Redis pub/sub connection, shared by every subscription (GraphQL, widget)
    # and by the websockets' revocation notices.
    app.state.hub = Hub(runtime.settings.required("redis_url"))
    app.state.sockets = Sockets(runtime)
    app.state.sockets.attach(app.state.hub)
    await app.state.hub.start()


async def on_shutdown(app: Starlette, runtime: Runtime) -> None:
    sockets = getattr(app.state, "sockets", None)
    if sockets is not None:
        await sockets.stop()
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()
