"""The browser-facing pages and assets: the embeddable widget script, the operator console and
the demo page. Plain files, no build step; all behaviour lives in the public APIs they call
(the widget endpoints and GraphQL)."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.webchat.guard import PUBLIC_ID

STATIC = Path(__file__).resolve().parent / "static"


def page_csp(request: Request) -> str:
    """No inline script or style anywhere: a message that slipped into the DOM as markup still
    could not run. The websocket origin is spelled out for browsers that do not map 'self'
    onto ws:/wss:."""
    host = request.url.netloc
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # Customers' voice notes and videos, through signed /media links.
        "media-src 'self'",
        f"connect-src 'self' ws://{host} wss://{host}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def _page_headers(request: Request) -> dict[str, str]:
    return {
        "Content-Security-Policy": page_csp(request),
        "X-Content-Type-Options": "nosniff",
        # The console is signed in with an API key: never let another site frame it or learn
        # which conversation URL was open.
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


async def console(request: Request) -> Response:
    return FileResponse(STATIC / "console.html", headers=_page_headers(request),
                        media_type="text/html; charset=utf-8")


async def demo(request: Request) -> Response:
    channel = request.query_params.get("channel", "")
    template = (STATIC / "demo.html").read_text(encoding="utf-8")
    if PUBLIC_ID.match(channel):
        # The script tag exactly as a business would paste it into its own site.
        embed = f'<script src="/widget.js" data-channel="{html.escape(channel)}" defer></script>'
        note = ""
    else:
        embed = ""
        note = ('<p class="note">Add <code>?channel=PUBLIC_ID</code> (a web chat channel\'s '
                "public id; <code>mca run</code> prints a ready link) to load the widget.</p>")
    body = template.replace("<!--WIDGET-->", embed).replace("<!--NOTE-->", note)
    return HTMLResponse(body, headers=_page_headers(request))


def _asset(name: str, media_type: str) -> Route:
    async def serve(request: Request) -> Response:
        return FileResponse(STATIC / name, media_type=media_type, headers={
            # Loaded by <script>/<link> from other sites: those need no CORS, but a page with
            # Cross-Origin-Embedder-Policy also needs an explicit cross-origin resource policy.
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
            # Short: a fix to the widget reaches every site within minutes.
            "Cache-Control": "public, max-age=300",
        })

    return Route(f"/{name}", serve, methods=["GET", "HEAD"])


def routes() -> list[BaseRoute]:
    return [
        _asset("widget.js", "text/javascript; charset=utf-8"),
        _asset("widget.css", "text/css; charset=utf-8"),
        Route("/console", console, methods=["GET", "HEAD"]),
        Route("/demo", demo, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
