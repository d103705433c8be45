"""WhatsApp Cloud API webhooks to inbound messages and status reports (recorded payloads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.channels.adapters.whatsapp import parse_webhook
from tests.meta import fixture, wa_message, wa_status, wa_webhook

ACCOUNT = "123456789012345"


def test_recorded_payload_every_type():
    parsed = parse_webhook(fixture("whatsapp_all_types.json"))
    by_id = {m.provider_message_id: m for m in parsed.messages}
    assert parsed.statuses == [] and parsed.ignored == 0
    assert len(parsed.messages) == 12
    assert {m.account_id for m in parsed.messages} == {ACCOUNT}
    text = by_id["wamid.TEXT1"]
    assert (text.type, text.answerable, text.external_id, text.wa_id) == (
        "text", True, "5215512345678", "5215512345678")
    assert text.profile_name == "Ana"
    assert text.timestamp is not None and text.timestamp.tzinfo is UTC
    # The words the agent answers: a reply's title (with its description), a button, a caption.
    assert by_id["wamid.INTER1"].text == "Option B (The second one)"
    assert by_id["wamid.BUTTON1"].text == "Yes, book it"
    assert by_id["wamid.IMG1"].text == "is this in stock?"
    assert by_id["wamid.LOC1"].text == "[Location shared] Zocalo; coordinates 19.43, -99.13"
    # Files are read by the worker; what the agent cannot read gets its fallback: all answered.
    for wamid in ("wamid.STICKER1", "wamid.LOC1", "wamid.UNSUP1", "wamid.AUDIO1", "wamid.ORDER1"):
        assert by_id[wamid].answerable, wamid
    for wamid in ("wamid.STICKER1", "wamid.UNSUP1", "wamid.AUDIO1", "wamid.ORDER1"):
        assert by_id[wamid].text is None, wamid
    # Reactions are shown on their message, not answered.
    assert not any(m.answerable for m in parsed.messages if m.type == "reaction")


def test_adding_and_removing_a_reaction_are_two_messages():
    parsed = parse_webhook(fixture("whatsapp_all_types.json"))
    reactions = [m.provider_message_id for m in parsed.messages if m.type == "reaction"]
    assert len(reactions) == 2 and len(set(reactions)) == 2
    assert all(r.startswith("wamid.REACT1:reaction:") for r in reactions)
    assert "wamid.REACT1:reaction:removed" in reactions


def test_a_customer_known_only_by_business_scoped_user_id():
    parsed = parse_webhook(fixture("whatsapp_all_types.json"))
    [bsuid] = [m for m in parsed.messages if m.provider_message_id == "wamid.BSUID1"]
    assert bsuid.wa_id is None and bsuid.external_id == bsuid.business_user_id
    assert bsuid.external_id.startswith("US.")
    assert bsuid.profile_name == "Sam"


def test_a_sender_that_is_not_a_phone_number_and_has_no_user_id_is_ignored():
    body = wa_webhook(ACCOUNT, [wa_message("hi", sender="not-a-phone"), wa_message("ok")])
    parsed = parse_webhook(body)
    assert [m.text for m in parsed.messages] == ["ok"] and parsed.ignored == 1


def test_a_change_without_phone_number_id_is_ignored():
    body = wa_webhook(ACCOUNT, [wa_message("hi")])
    del body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
    parsed = parse_webhook(body)
    assert parsed.messages == [] and parsed.ignored == 1


def test_statuses_played_is_read_and_failures_carry_code_and_title():
    body = wa_webhook(ACCOUNT, statuses=[
        wa_status("wamid.A", "delivered"), wa_status("wamid.B", "played"),
        wa_status("wamid.C", "failed", code=131047, title="Re-engagement message"),
        wa_status("wamid.D", "deleted"),  # not a status we track
    ])
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = "ours-1"
    parsed = parse_webhook(body)
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [
        ("wamid.A", "delivered"), ("wamid.B", "read"), ("wamid.C", "failed")]
    assert parsed.statuses[0].our_message_id == "ours-1"
    failed = parsed.statuses[2]
    assert (failed.error_code, failed.error_title) == ("131047", "Re-engagement message")
    assert parsed.ignored == 1


def test_timestamps_are_utc_and_a_bad_one_is_none():
    good = wa_message("a", extra={"timestamp": "1700000000"})
    bad = wa_message("b", extra={"timestamp": "yesterday"})
    first, second = parse_webhook(wa_webhook(ACCOUNT, [good, bad])).messages
    assert first.timestamp == datetime.fromtimestamp(1700000000, UTC)
    assert second.timestamp is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["entry", "changes", "value", "metadata", "phone_number_id", "messages",
                         "statuses", "contacts", "id", "from", "type", "text", "body", "status",
                         "errors", "timestamp", "profile", "wa_id"]), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_any_json_shape_parses_without_raising(body: Any):
    # A webhook body is whatever Meta (or anyone) posts: the parser never raises on its shape.
    parsed = parse_webhook(body if isinstance(body, dict) else {"entry": body})
    assert parsed.ignored >= 0


def test_business_accounts_and_template_updates_are_reported():
    from app.channels.adapters.whatsapp import parse_webhook as parse

    body = {"object": "whatsapp_business_account", "entry": [
        {"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": "555000111", "display_phone_number": "1555"},
            "messages": [{"from": "5215512345678", "id": "wamid.X", "timestamp": "1",
                          "type": "text", "text": {"body": "hi"}}]}}]},
        {"id": "102290129340398", "changes": [{"field": "message_template_status_update",
                                               "value": {"event": "APPROVED",
                                                         "message_template_id": 1,
                                                         "message_template_name": "order_update",
                                                         "message_template_language": "en_US",
                                                         "reason": "NONE"}}]},
    ]}
    parsed = parse(body)
    assert parsed.business_accounts == {"555000111": "102290129340398"}
    assert parsed.template_accounts == ["102290129340398"] and parsed.ignored == 0
    assert len(parsed.messages) == 1
