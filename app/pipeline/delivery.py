"""Sending one stored outbound message through its channel, with bounded retries."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from app.channels.adapters import instagram, whatsapp
from app.channels.adapters.base import OutboundMedia, Recipient, SendError, SendResult
from app.channels.adapters.graph import PAIR_RATE_LIMIT, RATE_LIMIT_CODES
from app.channels.adapters.registry import WINDOWED_KINDS, adapter_for
from app.channels.service import channel_token
from app.metrics import SEND_ERRORS, STAGE_SECONDS
from app.models import Channel, Contact
from app.pipeline.breaker import BreakerOpen, breaker
from app.runtime import Runtime

log = logging.getLogger("app.pipeline.delivery")



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
    rt: Runtime, channel: Channel, contact: Contact, text: str, our_message_id: str,
    media: list[OutboundMedia] | None = None,
    *, template: dict[str, Any] | None = None, tag: str | None = None,
) -> Delivery:
    """`media`: an operator's files, sent with `text` as their caption; `template`: a WhatsApp
    template request to send instead of `text`; `tag`: an Instagram message tag (HUMAN_AGENT)
    for a person's reply past the 24-hour window."""
    adapter = adapter_for(channel.kind)
    s = rt.settings
    # One breaker per channel: a number that Meta throttles or rejects does not stop the
    # others, and web chat (no Graph API behind it) has none.
    graph = (breaker(f"graph:{channel.id}", s.breaker_failure_threshold, s.breaker_reset_s)
             if channel.kind in WINDOWED_KINDS else None)
    to = Recipient(contact.external_id, contact.wa_id, contact.business_user_id)
    try:
        token = channel_token(channel, s)
    except ValueError as exc:
        # Nothing left this machine: a definite failure, and the reply's credits are released.
        return Delivery("failed", [], "token_unreadable", str(exc))
    attempts = max(1, s.send_retry_max)
    last: SendError | None = None
    for attempt in range(attempts):
        try:
            if graph is not None:
                graph.check()
        except BreakerOpen:
            return Delivery("failed", [], "breaker_open", "Graph API circuit breaker is open")
        started = time.perf_counter()
        try:
            result: SendResult
            if template is not None:
                result = await whatsapp.send_template(
                    rt.http, s, channel.provider_account_id, token, to, template, our_message_id
                )
            elif media:
                result = await adapter.send_media(
                    rt.http, s, channel.provider_account_id, token, to, media, text,
                    our_message_id)
            elif tag is not None:
                result = await instagram.send_tagged_text(
                    rt.http, s, channel.provider_account_id, token, to, text, tag
                )
            else:
                result = await adapter.send_text(
                    rt.http, s, channel.provider_account_id, token, to, text, our_message_id
                )
        except SendError as err:
            last = err
            SEND_ERRORS.labels(channel.kind, err.code or err.kind).inc()
            if graph is not None and err.kind in ("retry", "unknown") and (
                err.code not in RATE_LIMIT_CODES
            ):
                # Outages trip the breaker; rate limits are Meta pacing us, not failing.
                graph.failure()
            if err.kind == "retry":
                if attempt + 1 < attempts:
                    await asyncio.sleep(_backoff(err, attempt))
                continue
            return Delivery(err.kind if err.kind != "permanent" else "failed", [], err.code,
                            err.title)
        finally:
            STAGE_SECONDS.labels("send").observe(time.perf_counter() - started)
        if graph is not None:
            graph.success()
        return Delivery("sent", result.provider_message_ids)
    # Only a retryable error ends a turn without returning, so the last turn left one here.
    last = cast(SendError, last)
    log.warning("send failed after %d attempts: %s %s", attempts, last.code, last.title)
    return Delivery("failed", [], last.code, last.title)
