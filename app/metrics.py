"""Prometheus metrics, one definition each, shared by API and worker processes.

Each process exposes its own registry: the API at `GET /metrics`, a worker on
`WORKER_METRICS_PORT` when that is set. Prometheus sums across processes, so nothing here is
shared between processes (no multiprocess mode).

The API port is public, and the numbers tell an outsider how busy the platform is and which
providers fail: with `METRICS_TOKEN` set, `/metrics` answers only a scraper that sends it as a
bearer token; without it, production does not serve `/metrics` at all (development does). A
worker's metrics port is its own, for the private network only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.http import error_response
from app.models import Message
from app.outages import is_db_outage

if TYPE_CHECKING:
    from app.runtime import Runtime

WEBHOOK_REQUESTS = Counter(
    "mca_webhook_requests_total", "Webhook requests by endpoint and result", ["endpoint", "result"]
)
WEBHOOK_UNKNOWN_CHANNEL = Counter(
    "mca_webhook_unknown_channel_total", "Inbound items for channels that are not connected", ["kind"]
)
INBOUND_MESSAGES = Counter(
    "mca_inbound_messages_total", "Inbound messages stored, by channel kind", ["kind"]
)
PENDING_MESSAGES = Gauge(
    "mca_pending_messages", "Inbound messages received or processing (the autoscaling signal)"
)
STAGE_SECONDS = Histogram(
    "mca_stage_seconds", "Time per pipeline stage", ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
MODEL_TOKENS = Counter("mca_model_tokens_total", "Model tokens used", ["kind"])
MODEL_ERRORS = Counter("mca_model_errors_total", "Model call failures", ["reason"])
SEND_ERRORS = Counter("mca_send_errors_total", "Channel send failures by provider code", ["kind", "code"])
REPLIES_SENT = Counter("mca_replies_sent_total", "Replies accepted by the channel", ["kind", "sender"])
CREDITS_CONSUMED = Counter("mca_credits_consumed_total", "Credits committed for sent replies")
OPEN_SUBSCRIPTIONS = Gauge(
    "mca_open_subscriptions", "Live subscriptions on this process's hub (GraphQL and widget streams)"
)
BREAKER_OPEN = Gauge(
    "mca_breaker_open",
    "Open circuit breakers per dependency (the model; the Graph API, one breaker per channel)",
    ["dependency"],
)

# Exported as 0 from the start: an alert on `mca_breaker_open == 1` cannot tell "closed" from
# "this process never had a breaker" when the series only appears on the first trip.
for _dependency in ("model", "graph"):
    BREAKER_OPEN.labels(_dependency).set(0)


def observe_queue_wait(created_at: datetime) -> None:
    """Time from a message's arrival to the worker claiming it: the wait a customer feels
    before anything happens, and the first number to grow when workers are too few."""
    # created_at is the database's clock; a worker's clock a little behind must not go negative.
    STAGE_SECONDS.labels("queue_wait").observe(max(0.0, (datetime.now(UTC) - created_at).total_seconds()))


class PendingGauge:
    """Pending work, counted at most once a second per process: the backpressure signal."""

    def __init__(self) -> None:
        self.value = 0
        self.at = 0.0

    async def get(self, rt: Runtime) -> int:
        now = time.monotonic()
        if now - self.at > 1.0:
            self.at = now
            try:
                async with rt.sessions() as session:
                    self.value = int(await session.scalar(
                        select(func.count()).select_from(Message)
                        .where(Message.status.in_(("received", "processing")))
                    ) or 0)
            except Exception as exc:
                # Postgres is away: the last count stands (the webhook's store rides the outage out).
                if not is_db_outage(exc):
                    raise
                return self.value
            PENDING_MESSAGES.set(self.value)
        return self.value


_pending = PendingGauge()
# Read by the Meta webhook (backpressure) and by GET /metrics, so a scrape rides on the same
# once-a-second count.
pending_count = _pending.get


async def metrics(request: Request) -> Response:
    """`GET /metrics`: this API process's metrics in the format the scraper asks for."""
    token = request.app.state.settings.metrics_token
    if token and not _bearer_is(request.headers.get("authorization", ""), token):
        return error_response(401, "metrics need 'Authorization: Bearer <METRICS_TOKEN>'",
                              headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    rt = getattr(request.app.state, "runtime", None)
    if rt is not None:
        # The cached count (one query a second at most, however often it is scraped),
        # so every API replica reports the autoscaling signal without a sweeper of its own.
        # A database that is down must not take the other metrics down with it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pending_count(rt), timeout=2.0)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = await asyncio.to_thread(encoder, REGISTRY)
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def serves_metrics(settings: Settings) -> bool:
    """Whether the API port has a `/metrics` route: always with a token, else outside production."""
    return bool(settings.metrics_token) or not settings.is_production


def _bearer_is(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def start_worker_metrics(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve this worker's metrics on `port` from a daemon thread; returns the server to stop."""
    server, _thread = start_http_server(port, addr=addr)
    return server
