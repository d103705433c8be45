"""The committed schema.graphql is what the code serves (regenerate: mca export-schema)."""

from __future__ import annotations

from pathlib import Path

from app.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    committed = SCHEMA_FILE.read_text()
    assert committed.strip() == schema.as_str().strip(), (
        "schema.graphql is stale: run `.venv/bin/mca export-schema > schema.graphql`"
    )


def test_contract_names_are_present() -> None:
    sdl = schema.as_str()
    for name in (
        "viewer: Tenant!", "conversations(first: Int", "conversation(id: ID!)", "creditLedger(",
        "leads(", "createChannel(input: CreateChannelInput!)", "sendOperatorMessage(conversationId:",
        "retryMessage(id: ID!)", "createApiKey(name: String!)", "revokeApiKey(id: ID!)",
        "createTenant(name: String!, initialCredits:", "grantCredits(tenantId: ID!, amount: Int!, reason:",
        "conversationEvents(conversationId: ID", "creditBalance: Int!", "replyWindowClosesAt",
        "union ConversationEvent = MessageCreated | MessageStatusChanged | ConversationUpdated",
    ):
        assert name in sdl, name
    channel_type = sdl.split("type Channel {")[1].split("}")[0]
    assert "token" not in channel_type.lower()


def test_every_operation_is_documented_with_an_example() -> None:
    doc = (SCHEMA_FILE.parent / "documentation" / "api" / "graphql.md").read_text()
    sections = doc.split("\n### ")
    for root in (schema.query, schema.mutation, schema.subscription):
        assert root is not None
        for field in root.__strawberry_definition__.fields:
            name = schema.config.name_converter.get_graphql_name(field)
            section = next((s for s in sections if s.startswith(f"`{name}`")), None)
            assert section is not None, f"documentation/api/graphql.md has no section for {name}"
            assert "```graphql" in section, f"the {name} section has no example"
