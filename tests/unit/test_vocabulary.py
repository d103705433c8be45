"""The API's closed sets name every value the code produces: the message types the adapters
parse, the reasons the pipeline writes, the changes it announces. A value left out would read
as OTHER."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from app.channels.adapters import instagram, whatsapp
from app.conversations.kinds import (
    ConversationChange,
    MessageKind,
    StatusReason,
    message_kind,
    reason_of,
)
from tests.meta import fixture, ig_webhook

APP = Path(__file__).resolve().parents[2] / "app"


def test_every_whatsapp_type_of_the_recorded_payload_is_named():
    parsed = whatsapp.parse_webhook(fixture("whatsapp_all_types.json"))
    types = {m.type for m in parsed.messages}
    assert len(types) >= 10
    assert {t for t in types if message_kind(t) is MessageKind.OTHER} == set()


@pytest.mark.parametrize("event", [
    {"message": {"mid": "m1", "text": "hi"}},
    *({"message": {"mid": f"m-{kind}", "attachments": [{"type": kind, "payload": {}}]}}
      for kind in ("image", "video", "audio", "file", "share", "story_mention", "ig_reel")),
    {"message": {"mid": "m2", "is_deleted": True}},
    {"message": {"mid": "m3", "is_unsupported": True}},
    {"reaction": {"mid": "m4", "action": "react"}},
    {"postback": {"mid": "m5", "payload": "START"}},
])
def test_every_instagram_kind_is_named(event: dict[str, Any]):
    [msg] = instagram.parse_webhook(ig_webhook("17841400000000001", "99", event=event)).messages
    assert message_kind(msg.type) is not MessageKind.OTHER, msg.type


def test_a_type_or_reason_the_set_does_not_know_reads_as_other():
    assert message_kind("ephemeral") is MessageKind.OTHER
    assert message_kind(None) is MessageKind.TEXT
    assert reason_of("quota_exceeded") is StatusReason.OTHER
    assert reason_of(None) is None


def _strings(node: ast.AST) -> set[str]:
    """The word-like string literals an expression can evaluate to (not the keys it looks up,
    the arguments it passes on or the values it compares with)."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) and node.value.isidentifier() else set()
    if isinstance(node, ast.Call | ast.Subscript | ast.Compare):
        return set()
    return set().union(*(_strings(child) for child in ast.iter_child_nodes(node)))


def _written_reasons() -> set[str]:
    """String literals the code writes as a message's status reason."""
    found: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "_mark":
                    found |= set().union(*(_strings(a) for a in node.args[4:]))
                if name == "ModelError" and node.args:
                    found |= _strings(node.args[0])
                for kw in node.keywords:
                    if kw.arg == "status_reason" or (name == "_mark" and kw.arg == "reason"):
                        found |= _strings(kw.value)
            elif isinstance(node, ast.Assign):
                targets = ast.dump(ast.Tuple(elts=node.targets))
                if "status_reason" in targets or (path.parent.name == "pipeline" and (
                        "'refusal'" in targets or "'reason'" in targets)):
                    found |= _strings(node.value)
            elif isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name in (
                    "_skip_reason", "_charge_retry"):
                found |= {s for r in ast.walk(node) if isinstance(r, ast.Return) and r.value
                          for s in _strings(r.value)}
    return found


def test_every_status_reason_the_code_writes_is_named():
    written = _written_reasons()
    # Some of each family, so the scan itself cannot silently find nothing.
    assert {"human_mode", "no_credits", "unsupported_type", "model_error", "breaker_open",
            "send_failed", "provider_error", "window_closed", "sending"} <= written
    written -= {"failed", "skipped", "received", "answered"}  # statuses beside reasons
    assert written - {r.value for r in StatusReason} == set()
    # Delivery outcomes become reasons as they are (app/pipeline/send.py, batch.py).
    assert {"window_closed", "reauth"} <= {r.value for r in StatusReason}


def test_every_change_the_code_announces_is_named():
    announced: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "change" and value is not None:
                        announced |= _strings(value)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "conversation_updated":
                announced |= set().union(*(_strings(a) for a in node.args[1:]))
    assert {"archived", "mode", "no_credits", "handoff_requested", "lead"} <= announced
    assert announced - {c.value for c in ConversationChange} == set()
