"""Sending one stored outbound message through its channel, with bounded retries."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from app.breaker import BreakerOpen, breaker
from app.channels.adapters.base import Recipient, SendError, SendResult
from app.channels.adapters.graph import PAIR_RATE_LIMIT
from app.channels.adapters.registry import adapter_for
from app.channels.service import channel_token
from app.metrics import SEND_ERRORS, STAGE_SECONDS
from app.models import Channel, Contact
from app.runtime import Runtime

log = logging.getLogger("workers.delivery")

SEND_ATTEMPTS = 3


@dataclass
class Delivery:
    """What a send came to: `sent` with ids, or a SendError's kind with code and title."""

    outcome: str  # sent | failed | window_closed | reauth | unknown
    provider_ids: list[str]
    code: str | None = None
    title: str | None = None


def _backoff(err: SendError, attempt: int) -> float:
    # Meta asks for 4^x seconds after a pair-rate-limit error (131056).
    if err.code == PAIR_RATE_LIMIT:
        return float(4**attempt)
    return err.retry_after_s or 0.5 * 2**attempt


async def deliver(
    rt: Runtime, channel: Channel, contact: Contact, text: str, our_message_id: str
) -> Delivery:
    adapter = adapter_for(channel.kind)
    s = rt.settings
    graph = breaker("graph", s.breaker_failure_threshold, s.breaker_reset_s)
    to = Recipient(contact.external_id, contact.wa_id, contact.business_user_id)
    token = channel_token(channel, s)
    last: SendError | None = None
    for attempt in range(SEND_ATTEMPTS):
        try:
            graph.check()
        except BreakerOpen:
            return Delivery("failed", [], "breaker_open", "Graph API circuit breaker is open")
        started = time.perf_counter()
        try:
            result: SendResult = await adapter.send_text(
                rt.http, s, channel.provider_account_id, token, to, text, our_message_id
            )
        except SendError as err:
            last = err
            SEND_ERRORS.labels(channel.kind, err.code or err.kind).inc()
            if err.kind == "retry":
                graph.failure()
                if attempt + 1 < SEND_ATTEMPTS:
                    await asyncio.sleep(_backoff(err, attempt))
                continue
            if err.kind == "unknown":
                graph.failure()
            return Delivery(err.kind if err.kind != "permanent" else "failed", [], err.code,
                            err.title)
        finally:
            STAGE_SECONDS.labels("send").observe(time.perf_counter() - started)
        graph.success()
        return Delivery("sent", result.provider_message_ids)
    assert last is not None
    log.warning("send failed after %d attempts: %s %s", SEND_ATTEMPTS, last.code, last.title)
    return Delivery("failed", [], last.code, last.title)
