"""Where later job families (lead extraction, lifecycle) plug into the worker."""

from __future__ import annotations

from typing import Any

from arq import cron

from app.config import Settings


def extra_functions() -> list[Any]:
    from workers.leads import extract_lead

    return [extract_lead]


def extra_cron_jobs(settings: Settings) -> list[Any]:
    from workers.leads import scan_lead_extraction
    from workers.lifecycle import expire_contexts

    return [
        # Every minute: the idle rule is in minutes, so a lead is at most a minute late.
        cron(scan_lead_extraction, second=30, unique=True, timeout=120, keep_result=0),
        # Hourly: the rule is in days. unique: one run per hour across all workers.
        cron(expire_contexts, minute=17, second=0, unique=True, timeout=1800, keep_result=0),
    ]
