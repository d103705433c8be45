"""Template components: parameters, the check of given values, rendering, the send request;
the HUMAN_AGENT rule; Meta's template error codes in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.channels.adapters.registry import human_agent_tag
from app.errors import BadUserInput, ValidationFailed
from app.templates import components as tc
from app.templates.graph import template_error_title

ORDER = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A-1"]}},
    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships {{3}}. Thanks {{1}}!",
     "example": {"body_text": [["Ana", "A-1", "today"]]}},
    {"type": "FOOTER", "text": "Acme"},
    {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "URL", "text": "Track", "url": "https://acme.test/t/{{1}}",
         "example": ["https://acme.test/t/A-1"]},
    ]},
]
NAMED = [{"type": "BODY", "text": "Hello {{customer_name}}",
          "example": {"body_text_named_params": [{"param_name": "customer_name",
                                                  "example": "Ana"}]}}]
VALUES = {"header.1": "A-7", "body.1": "Ana", "body.2": "A-7", "body.3": "today",
          "button.1.1": "A-7"}


def test_parameters_in_order_with_examples():
    assert [(p.key, p.example) for p in tc.parameters(ORDER)] == [
        ("header.1", "A-1"), ("body.1", "Ana"), ("body.2", "A-1"), ("body.3", "today"),
        ("button.1.1", "https://acme.test/t/A-1")]
    assert [(p.key, p.example) for p in tc.parameters(NAMED)] == [("body.customer_name", "Ana")]


def test_render_and_send_components():
    values = tc.check_values(ORDER, VALUES)
    assert tc.render(ORDER, values) == (
        "Order A-7\n\nHi Ana, your order A-7 ships today. Thanks Ana!\n\nAcme")
    assert tc.send_components(ORDER, values, "POSITIONAL") == [
        {"type": "header", "parameters": [{"type": "text", "text": "A-7"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                        {"type": "text", "text": "A-7"},
                                        {"type": "text", "text": "today"}]},
        {"type": "button", "sub_type": "url", "index": "1",
         "parameters": [{"type": "text", "text": "A-7"}]},
    ]
    named = tc.check_values(NAMED, {"body.customer_name": " Luis "})
    assert tc.send_components(NAMED, named, "NAMED") == [
        {"type": "body", "parameters": [{"type": "text", "parameter_name": "customer_name",
                                         "text": "Luis"}]}]


@pytest.mark.parametrize(("given", "words"), [
    ({k: v for k, v in VALUES.items() if k != "body.2"}, "'body.2' is missing"),
    ({**VALUES, "body.9": "x"}, "unknown template parameter 'body.9'"),
    ({**VALUES, "body.1": "  "}, "'body.1' must not be empty"),
    ({**VALUES, "body.1": "two\nlines"}, "must be one line"),
    ({**VALUES, "body.1": "a     b"}, "must be one line"),
    ({**VALUES, "header.1": "x" * 60}, "header would be longer than 60"),
    ({**VALUES, "body.3": "x" * 1000}, "text would be longer than 1024"),
])
def test_bad_values_are_named(given, words):
    with pytest.raises(BadUserInput) as err:
        tc.check_values(ORDER, given)
    assert words in err.value.message


def test_a_media_header_is_not_sendable():
    image = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}]
    assert tc.unsupported(image) == "templates with a image header are not supported"
    with pytest.raises(ValidationFailed):
        tc.check_values(image, {})


def test_template_error_codes_in_words():
    assert "number of parameters does not match" in (template_error_title("132000", "x") or "")
    assert "paused" in (template_error_title("132015", None) or "")
    assert template_error_title("131026", "Message undeliverable") is None


def test_human_agent_tag_only_for_operators_between_24_hours_and_7_days():
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    ago = lambda h: now - timedelta(hours=h)  # noqa: E731
    assert human_agent_tag("instagram", "operator", ago(23), now) is None
    assert human_agent_tag("instagram", "operator", ago(25), now) == "HUMAN_AGENT"
    assert human_agent_tag("instagram", "operator", ago(7 * 24 - 1), now) == "HUMAN_AGENT"
    assert human_agent_tag("instagram", "operator", ago(7 * 24 + 1), now) is None
    assert human_agent_tag("instagram", "ai", ago(25), now) is None
    assert human_agent_tag("whatsapp", "operator", ago(25), now) is None
