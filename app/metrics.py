"""Prometheus metrics, one definition each, shared by API and worker processes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
OPEN_SUBSCRIPTIONS = Gauge("mca_open_subscriptions", "Live GraphQL subscriptions in this process")
BREAKER_OPEN = Gauge("mca_breaker_open", "1 while a dependency's circuit breaker is open", ["dependency"])
