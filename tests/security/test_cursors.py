"""A cursor comes back from the client: every malformed one is BAD_USER_INPUT, on every list."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.graphql.helpers import codes, gql, seed_conversation

ROW = str(uuid.uuid4())


def crafted(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


def time_id_cursors(tag: str) -> list[str]:
    return [
        crafted(tag, "2026-01-01T00:00:00+00:00", 12),  # id not a string
        crafted(tag, "2026-01-01T00:00:00+00:00", "not-a-uuid"),
        crafted(tag, "9999-12-31T23:59:59-14:00", ROW),  # past the calendar's end in UTC
        crafted(tag, "0001-01-01T00:00:00+14:00", ROW),  # before its start
        crafted(tag, 1767225600, ROW),
        crafted(tag, "yesterday", ROW),
        crafted(tag, "2026-01-01T00:00:00+00:00", ROW, "extra"),
        crafted(tag),
        crafted("leads" if tag != "leads" else "ledger", "2026-01-01T00:00:00+00:00", ROW),
        base64.urlsafe_b64encode(b"[" * 5000).decode(),
        "A" * 5000,
        "!!!not base64!!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]


@pytest.mark.parametrize(("field", "tag"), [
    ("creditLedger", "ledger"), ("leads", "lead"), ("conversations", "conv"),
])
async def test_malformed_time_cursors_are_bad_user_input(client, world, field, tag):
    for cursor in time_id_cursors(tag):
        body = await gql(client, f"query($c: String) {{ {field}(after: $c) {{ edges {{ cursor }} }} }}",
                         {"c": cursor}, key=world.api_key)
        assert codes(body) == ["BAD_USER_INPUT"], (cursor, body)
        assert "after" in body["errors"][0]["message"]


async def test_malformed_message_cursors_are_bad_user_input(client, rt, world):
    conversation_id = await seed_conversation(rt, world)
    query = """query($id: ID!, $after: String, $before: String) { conversation(id: $id) {
        messages(after: $after, before: $before) { edges { cursor } } } }"""
    for value in (2**31, 2**63, -1, True, 1.5, "3", None):
        for arg in ("after", "before"):
            body = await gql(client, query, {"id": str(conversation_id), arg: crafted("msg", value)},
                             key=world.api_key)
            assert codes(body) == ["BAD_USER_INPUT"], (arg, value, body)
            assert arg in body["errors"][0]["message"]
