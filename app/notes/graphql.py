"""Notes: the team's private notes on a conversation (Conversation.notes, addNote,
deleteNote)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from app.db import driver_connection
from app.graphql import fields as gql
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    connection,
    decode_time_id,
    page_size,
    time_id_cursor,
)
from app.graphql.permissions import parse_id, require_tenant
from app.graphql.writes import write
from app.notes import service

NOTE_CURSOR = "note"

# Newest first on ix_conversation_notes_conversation_id_created_at, with the author's key name.
_NOTES = """
SELECT n.id, n.conversation_id, n.text, n.api_key_id, k.name AS author_name, n.created_at
FROM conversation_notes n LEFT JOIN api_keys k ON k.id = n.api_key_id
WHERE n.tenant_id = $1 AND n.conversation_id = $2
"""
NOTES_PAGE = {
    False: _NOTES + "ORDER BY n.created_at DESC, n.id DESC LIMIT $3",
    True: _NOTES + "AND (n.created_at, n.id) < ($4, $5) ORDER BY n.created_at DESC, n.id DESC "
                   "LIMIT $3",
}


@strawberry.type(name="Note", description=(
    "A private note of the tenant's team on a conversation: never sent to the customer, never "
    "part of what the model is told."
))
class NoteType:
    id: strawberry.ID
    conversation_id: strawberry.ID
    text: str
    author_key_id: strawberry.ID | None = strawberry.field(description=(
        "The API key that wrote it (null once that key is deleted)."
    ))
    author_name: str | None = strawberry.field(description="That API key's name.")
    created_at: datetime

    @classmethod
    def from_record(cls, r: Any) -> NoteType:
        return cls(
            id=strawberry.ID(str(r["id"])), conversation_id=strawberry.ID(str(r["conversation_id"])),
            text=r["text"],
            author_key_id=strawberry.ID(str(r["api_key_id"])) if r["api_key_id"] else None,
            author_name=r["author_name"], created_at=r["created_at"],
        )

    @classmethod
    def from_event(cls, n: dict[str, Any]) -> NoteType:
        return cls(
            id=strawberry.ID(n["id"]), conversation_id=strawberry.ID(n["conversationId"]),
            text=n["text"],
            author_key_id=strawberry.ID(n["apiKeyId"]) if n.get("apiKeyId") else None,
            author_name=n.get("authorName"), created_at=datetime.fromisoformat(n["createdAt"]),
        )


def _cursor(r: Any) -> str:
    return time_id_cursor(NOTE_CURSOR, r["created_at"], r["id"])


async def notes_page(
    info: Info, conversation_id: uuid.UUID, first: int | None, after: str | None
) -> Connection[NoteType]:
    """A conversation's notes, newest first (the conversation was read for this tenant)."""
    tenant_id = await require_tenant(info)
    limit = page_size(first)
    cursor = decode_time_id(after, NOTE_CURSOR) if after is not None else None
    async with driver_connection(info.context.rt.engine) as conn:
        args: tuple[Any, ...] = (tenant_id, conversation_id, limit + 1)
        rows = await conn.fetch(NOTES_PAGE[cursor is not None],
                                *(args + cursor if cursor is not None else args))
    return connection(rows, limit, NoteType.from_record, _cursor, has_previous=after is not None)


@strawberry.type
class NoteMutation:
    @gql.mutation(
        "Add a private note to a conversation (1-4,000 characters): kept beside the "
        "conversation, never sent to the customer nor shown to the model. Its author is the "
        "calling API key. NoteAdded follows on the conversation's events."
    )
    async def add_note(self, info: Info, conversation_id: strawberry.ID, text: str) -> NoteType:
        tenant_id = await require_tenant(info)
        principal = await info.context.principal()
        async with write(info) as session:
            note, author = await service.add_note(
                session, tenant_id, parse_id(conversation_id, "conversation"),
                principal.key_id, text,
            )
        return NoteType.from_event(service.note_dict(note, author))

    @gql.mutation("Delete a note. NoteDeleted follows on the conversation's events. Returns its id.")
    async def delete_note(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        tenant_id = await require_tenant(info)
        async with write(info) as session:
            await service.delete_note(session, tenant_id, parse_id(id, "note"))
        return id
