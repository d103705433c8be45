"""Where later job families (lead extraction, lifecycle) plug into the worker."""

from __future__ import annotations

from typing import Any

from app.config import Settings


def extra_functions() -> list[Any]:
    return []


def extra_cron_jobs(settings: Settings) -> list[Any]:
    return []
