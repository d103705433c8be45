"""What a WhatsApp webhook sets off for templates, after it was stored: a template change
refreshes the copy of every channel of that business account, and a business account seen for
a number whose channel does not know it yet is verified and stored. Both are worker jobs, so
the webhook still answers at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.channels.adapters.base import ParsedWebhook
from app.runtime import Runtime
from app.templates import repository
from app.templates.refresh import LEARN_JOB, REFRESH_JOB

log = logging.getLogger("app.templates.webhooks")

# A business account that could not be verified is asked about again at most this often.
LEARN_RETRY_S = 3600


async def after_webhook(rt: Runtime, parsed: ParsedWebhook, routes: Mapping[str, Any]) -> None:
    """Never fails the webhook: the message is stored; templates can be refreshed on demand."""
    try:
        await _enqueue(rt, parsed, routes)
    except Exception:
        log.exception("template jobs not enqueued")


async def _enqueue(rt: Runtime, parsed: ParsedWebhook, routes: Mapping[str, Any]) -> None:
    for account, waba in parsed.business_accounts.items():
        route = routes.get(account)
        if route is None or (route.settings or {}).get("waba_id") == waba:
            continue
        if await rt.redis.set(f"mca:waba-learn:{route.id}:{waba}", b"1", nx=True,
                              ex=LEARN_RETRY_S):
            await rt.redis.enqueue_job(LEARN_JOB, str(route.id), waba)
    if not parsed.template_accounts:
        return
    async with rt.sessions() as session:
        channels = [c for waba in parsed.template_accounts
                    for c in await repository.channels_of_business_account(session, waba)]
    for channel in channels:
        await rt.redis.enqueue_job(REFRESH_JOB, str(channel.id))
