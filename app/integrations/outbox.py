"""The outbox: webhook deliveries written in the transaction of the change that causes them.

Every change the dashboard hears about is already recorded on the session as a realtime event
(app/effects.py) to publish after commit. Just before that commit, this module turns the ones a
tenant's systems care about into `event_deliveries` rows, one per enabled endpoint that asked
for the type, in the same transaction: the change and its events commit together or not at all.
Services with a change no dashboard event describes call `record()`.

A tenant without endpoints costs one indexed lookup per process every few seconds, not one
statement per commit: the message path stays as fast as it was.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from app.effects import effects_of
from app.integrations.events import EventType, WebhookEvent, from_realtime, once_id

_EXTRA = "mca_outbox_extra"  # events recorded directly, as (tenant_id, WebhookEvent)
_NO_ENDPOINTS_TTL_S = 5.0
# tenant id -> monotonic time until which the tenant is known to have no enabled endpoint
_no_endpoints: dict[str, float] = {}

_INSERT = text("""
INSERT INTO event_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload)
SELECT gen_random_uuid(), e.tenant_id, e.id, CAST(:event_id AS uuid), CAST(:event_type AS varchar),
       CAST(:payload AS jsonb)
FROM webhook_endpoints AS e
WHERE e.tenant_id = CAST(:tenant_id AS uuid) AND e.enabled
  AND CAST(:event_type AS varchar) = ANY(e.event_types)
ON CONFLICT (endpoint_id, event_id) DO NOTHING
""")
_HAS_ENDPOINTS = text(
    "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = CAST(:t AS uuid) AND enabled)"
)
# The balance moved: arm or re-arm credits.low. A row comes back only when the flag flips.
_CREDITS_LOW = text("""
UPDATE tenants SET credits_low_notified = (credit_balance <= credits_low_threshold)
WHERE id = CAST(:t AS uuid) AND credits_low_threshold IS NOT NULL
  AND credits_low_notified <> (credit_balance <= credits_low_threshold)
RETURNING credit_balance, credits_low_threshold, credits_low_notified
""")
_LEAD = text("""
SELECT id, conversation_id, name, email, company, intent, urgency, budget, fit, engagement,
       demo_at, demo_timezone, notification, created_at
FROM leads WHERE id = CAST(:id AS uuid)
""")
_PREVIOUS_LEAD = text("""
SELECT urgency, fit, notification FROM leads
WHERE conversation_id = CAST(:c AS uuid) AND id <> CAST(:id AS uuid)
ORDER BY created_at DESC LIMIT 1
""")


def record(session: Any, tenant_id: uuid.UUID | str, ev: WebhookEvent) -> None:
    """Record an event that no realtime event stands for; written with the session's commit."""
    session.info.setdefault(_EXTRA, []).append((str(tenant_id), ev))


def forget_tenant(tenant_id: uuid.UUID | str) -> None:
    """The tenant's endpoints changed in this process: look again at its next event."""
    _no_endpoints.pop(str(tenant_id), None)


def _has_endpoints(session: Session, tenant_id: str) -> bool:
    now = time.monotonic()
    if _no_endpoints.get(tenant_id, 0.0) > now:
        return False
    found = bool(session.execute(_HAS_ENDPOINTS, {"t": tenant_id}).scalar())
    if not found:
        _no_endpoints[tenant_id] = now + _NO_ENDPOINTS_TTL_S
    return found


def _lead_events(session: Session, ev: WebhookEvent) -> list[WebhookEvent]:
    lead_id = (ev.data.get("lead") or {}).get("id")
    if not lead_id:
        return [ev]
    row = session.execute(_LEAD, {"id": lead_id}).mappings().first()
    if row is None:
        return [ev]
    lead = {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, uuid.UUID)
                else v) for k, v in dict(row).items()}
    data = {"conversation": ev.data.get("conversation"), "lead": lead}
    out = [WebhookEvent(EventType.LEAD_UPDATED, once_id(str(lead_id), EventType.LEAD_UPDATED),
                        data)]
    before = session.execute(_PREVIOUS_LEAD, {"c": str(row["conversation_id"]), "id": lead_id}) \
        .mappings().first()
    # Hot: the extraction asks for someone's attention, or fit or urgency just reached high.
    rose = any(row[k] == 3 and (before is None or before[k] < 3) for k in ("fit", "urgency"))
    if (row["notification"] and (before is None or before["notification"] != row["notification"])) \
            or rose:
        out.append(WebhookEvent(EventType.LEAD_HOT, once_id(str(lead_id), EventType.LEAD_HOT),
                                data))
    return out


def _pending(session: Session) -> list[tuple[str, WebhookEvent]]:
    effects = effects_of(session)  # type: ignore[arg-type]
    # A session may commit several times: only the events recorded since the last commit.
    realtime = effects.events[effects.outbox_seen:]
    effects.outbox_seen = len(effects.events)
    out: list[tuple[str, WebhookEvent]] = session.info.pop(_EXTRA, [])
    balance_moved: set[str] = set()
    for tenant_id, rt_event in realtime:
        if rt_event.get("type") == "CreditBalance":
            balance_moved.add(tenant_id)
        for ev in from_realtime(rt_event):
            out.append((tenant_id, ev))
    for tenant_id in balance_moved:
        if _has_endpoints(session, tenant_id):
            row = session.execute(_CREDITS_LOW, {"t": tenant_id}).mappings().first()
            if row is not None and row["credits_low_notified"]:
                out.append((tenant_id, WebhookEvent(EventType.CREDITS_LOW, uuid.uuid4(), {
                    "balance": int(row["credit_balance"]),
                    "threshold": int(row["credits_low_threshold"])})))
    return out


def install() -> None:
    """Write deliveries before every session's commit in this process (idempotent)."""
    if not event.contains(Session, "before_commit", _write):
        event.listen(Session, "before_commit", _write)


def _write(session: Session) -> None:
    pending = _pending(session)
    for tenant_id, ev in pending:
        if not _has_endpoints(session, tenant_id):
            continue
        expanded = _lead_events(session, ev) if ev.type == EventType.LEAD_UPDATED else [ev]
        for one in expanded:
            session.execute(_INSERT, {
                "tenant_id": tenant_id, "event_id": str(one.id), "event_type": str(one.type),
                "payload": orjson.dumps(one.body(tenant_id)).decode(),
            })
