"""The platform's prompt variables, worked out without servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.agents.variables import CallContext, prompt_variables, validate_time_zone
from app.errors import ValidationFailed
from app.models import Agent

CTX = CallContext(customer_name="Ana", channel_kind="instagram", business_name="Acme")


def _agent(zone: str, variables: dict[str, str] | None = None) -> Agent:
    return Agent(id=uuid.uuid4(), tenant_id=uuid.uuid4(), channel_id=uuid.uuid4(), name="A",
                 prompt_id="pmpt_1", prompt_variables=variables or {}, time_zone=zone)


@pytest.mark.parametrize(("zone", "date"), [
    ("UTC", "2026-12-02"),
    ("Pacific/Kiritimati", "2026-12-03"),  # UTC+14: already tomorrow
    ("America/Mexico_City", "2026-12-02"),
    ("Pacific/Pago_Pago", "2026-12-01"),  # UTC-11: still yesterday
])
def test_local_date_is_the_agents_day(zone: str, date: str) -> None:
    now = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    got = prompt_variables(_agent(zone, {"hours": "9-18"}), CTX, now)
    assert got == {"hours": "9-18", "customer_name": "Ana", "channel_kind": "instagram",
                   "business_name": "Acme", "local_date": date}


def test_time_zone_must_be_an_iana_name() -> None:
    assert validate_time_zone(" Europe/Lisbon ") == "Europe/Lisbon"
    for bad in ("", "Mars/Olympus", "../../etc/passwd", "x" * 65):
        with pytest.raises(ValidationFailed, match=r"^timeZone"):
            validate_time_zone(bad)
