"""Every Redis pub/sub topic name and event shape, in one place."""

from __future__ import annotations

EVENTS_PATTERN = "mca:events:*"
# Platform-wide notices every API process must act on (not a tenant's events): published
# after the change they announce is committed, received on the hub's one connection.
CONTROL_TOPIC = "mca:control"
# {"type": "ApiKeyRevoked", "keyId": "<uuid>", "tenantId": "<uuid>"}
API_KEY_REVOKED = "ApiKeyRevoked"


def tenant_topic(tenant_id: str) -> str:
    return f"mca:events:{tenant_id}"
