"""Every Redis pub/sub topic name and event shape, in one place."""

from __future__ import annotations

EVENTS_PATTERN = "mca:events:*"


def tenant_topic(tenant_id: str) -> str:
    return f"mca:events:{tenant_id}"
