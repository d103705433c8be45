"""Outbound status only moves forward: pending -> sent -> delivered -> read, whatever order
Meta's reports arrive in, and `failed` never after delivery."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.models.message import OUTBOUND_STATUSES
from app.pipeline.ingest import FORWARD_FROM

RANK = {"pending": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3}
REPORTS = ("sent", "delivered", "read", "failed")


def apply(status: str, report: str) -> str:
    """What the status statement does: replace only a status the report may replace."""
    return report if status in FORWARD_FROM[report] else status


def test_every_report_and_every_state_it_replaces_is_an_outbound_status():
    assert set(FORWARD_FROM) == set(REPORTS)
    for report, replaces in FORWARD_FROM.items():
        assert set(replaces) <= set(OUTBOUND_STATUSES), report


def test_a_report_replaces_only_earlier_states():
    for report in ("sent", "delivered", "read"):
        assert all(RANK[s] < RANK[report] for s in FORWARD_FROM[report]), report
        assert report not in FORWARD_FROM[report]


def test_failed_never_follows_delivery_and_nothing_follows_failed():
    assert not {"delivered", "read", "failed"} & set(FORWARD_FROM["failed"])
    assert all("failed" not in replaces for replaces in FORWARD_FROM.values())


def test_a_reply_whose_send_had_no_answer_is_settled_by_any_report():
    for report in REPORTS:
        assert apply("unknown", report) == report


@given(st.lists(st.sampled_from(("sent", "delivered", "read")), min_size=1, max_size=8))
def test_reports_in_any_order_end_at_the_furthest(reports: list[str]):
    status = "pending"
    for report in reports:
        before = status
        status = apply(status, report)
        assert RANK[status] >= RANK[before]
    assert status == max(reports, key=RANK.__getitem__)


@given(st.lists(st.sampled_from(REPORTS), min_size=1, max_size=8))
def test_failed_sticks_only_before_delivery(reports: list[str]):
    status = "pending"
    delivered = False
    for report in reports:
        status = apply(status, report)
        delivered = delivered or status in ("delivered", "read")
        if delivered:
            assert status != "failed"
    if "failed" in reports and not any(r in ("delivered", "read") for r in
                                       reports[:reports.index("failed")]):
        assert status == "failed"
