"""Instagram Messaging webhooks to inbound messages and read reports."""

from __future__ import annotations

from datetime import UTC, datetime

from app.channels.adapters.instagram import parse_webhook
from tests.meta import ig_webhook

ACCOUNT = "17841400000000001"
CUSTOMER = "9988776655"


def test_a_text_message():
    body = ig_webhook(ACCOUNT, CUSTOMER, "hola", mid="aWdfMID1")
    body["entry"][0]["messaging"][0]["timestamp"] = 1_700_000_000_123
    [msg] = parse_webhook(body).messages
    assert (msg.account_id, msg.external_id, msg.provider_message_id) == (ACCOUNT, CUSTOMER, "aWdfMID1")
    assert (msg.type, msg.text, msg.answerable) == ("text", "hola", True)
    assert msg.timestamp == datetime.fromtimestamp(1_700_000_000.123, UTC)


def test_echoes_of_our_own_messages_are_never_answered():
    parsed = parse_webhook(ig_webhook(ACCOUNT, CUSTOMER, "our reply", echo=True))
    assert parsed.messages == [] and parsed.ignored == 1


def test_a_file_is_answered_and_a_share_is_recorded_only():
    # The worker downloads the file and the agent reads it (app/media/).
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {
        "mid": "aWdfIMG", "attachments": [{"type": "image", "payload": {"url": "https://x"}}]}})
    [msg] = parse_webhook(body).messages
    assert (msg.type, msg.text, msg.answerable) == ("image", None, True)
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {
        "mid": "aWdfSHARE", "attachments": [{"type": "share", "payload": {"url": "https://x"}}]}})
    [msg] = parse_webhook(body).messages
    assert (msg.type, msg.text, msg.answerable) == ("share", None, False)


def test_a_quick_reply_answers_with_its_payload():
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {
        "mid": "aWdfQR", "quick_reply": {"payload": "BOOK_DEMO"}}})
    [msg] = parse_webhook(body).messages
    assert (msg.text, msg.answerable) == ("BOOK_DEMO", True)


def test_a_deleted_message_is_its_own_record():
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {"mid": "aWdfDEL", "is_deleted": True}})
    [msg] = parse_webhook(body).messages
    assert (msg.provider_message_id, msg.type, msg.answerable) == ("aWdfDEL:deleted", "deleted", False)


def test_a_read_is_a_status_report():
    parsed = parse_webhook(ig_webhook(ACCOUNT, CUSTOMER, event={"read": {"mid": "aWdfOURS"}}))
    assert parsed.messages == []
    [status] = parsed.statuses
    assert (status.account_id, status.provider_message_id, status.status) == (ACCOUNT, "aWdfOURS", "read")


def test_reacting_and_unreacting_are_distinct_unanswered_messages():
    react = ig_webhook(ACCOUNT, CUSTOMER, event={"reaction": {"mid": "aWdfM", "action": "react"}})
    unreact = ig_webhook(ACCOUNT, CUSTOMER, event={"reaction": {"mid": "aWdfM", "action": "unreact"}})
    [a] = parse_webhook(react).messages
    [b] = parse_webhook(unreact).messages
    assert a.provider_message_id != b.provider_message_id
    assert a.type == b.type == "reaction" and not a.answerable and not b.answerable


def test_events_without_sender_or_account_are_ignored():
    no_sender = ig_webhook(ACCOUNT, CUSTOMER, "hi")
    del no_sender["entry"][0]["messaging"][0]["sender"]
    no_account = ig_webhook(ACCOUNT, CUSTOMER, "hi")
    del no_account["entry"][0]["id"]
    for body in (no_sender, no_account):
        parsed = parse_webhook(body)
        assert parsed.messages == [] and parsed.ignored == 1


def test_a_postback_is_answered_with_the_buttons_title():
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"postback": {
        "mid": "aWdfPB", "title": "See prices", "payload": "PRICES"}})
    [msg] = parse_webhook(body).messages
    assert (msg.type, msg.text, msg.answerable) == ("postback", "See prices", True)
    assert msg.provider_message_id.startswith("aWdfPB:postback:PRICES")


def test_a_story_reply_carries_the_story():
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {
        "mid": "aWdfSR", "text": "how much?",
        "reply_to": {"story": {"url": "https://cdn.test/story/1", "id": "STORY1"}}}})
    [msg] = parse_webhook(body).messages
    assert msg.type == "story_reply" and msg.answerable
    assert msg.text == "[The customer replied to your story: https://cdn.test/story/1]\nhow much?"


def test_a_story_mention_is_answered_with_its_context():
    body = ig_webhook(ACCOUNT, CUSTOMER, event={"message": {
        "mid": "aWdfSM", "attachments": [{"type": "story_mention",
                                          "payload": {"url": "https://cdn.test/story/2"}}]}})
    [msg] = parse_webhook(body).messages
    assert (msg.type, msg.answerable) == ("story_mention", True)
    assert msg.text == "[The customer mentioned you in their story: https://cdn.test/story/2]"
