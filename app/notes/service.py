"""Private notes on a conversation. A note is a row of its own, never a message: the model's
context and the channel adapters read messages only, so a note can reach neither. Adding or
deleting one is announced on the conversation's events (NoteAdded, NoteDeleted)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.effects import emit
from app.errors import BadUserInput, NotFound
from app.models import ApiKey, Conversation, ConversationNote

MAX_NOTE_CHARS = 4000


def note_dict(note: ConversationNote, author_name: str | None) -> dict[str, Any]:
    return {
        "id": str(note.id), "conversationId": str(note.conversation_id), "text": note.text,
        "apiKeyId": str(note.api_key_id) if note.api_key_id else None,
        "authorName": author_name, "createdAt": note.created_at.isoformat(),
    }


async def add_note(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
    api_key_id: uuid.UUID | None, text: str,
) -> tuple[ConversationNote, str | None]:
    """The note and its author's name (the API key's)."""
    if not text.strip():
        raise BadUserInput("text must not be empty")
    if len(text) > MAX_NOTE_CHARS:
        raise BadUserInput(f"text must be at most {MAX_NOTE_CHARS} characters")
    owned = await session.scalar(select(Conversation.id).where(
        Conversation.id == conversation_id, Conversation.tenant_id == tenant_id))
    if owned is None:
        raise NotFound("conversation")
    note = ConversationNote(
        id=uuid.uuid4(), tenant_id=tenant_id, conversation_id=conversation_id,
        api_key_id=api_key_id, text=text,
    )
    session.add(note)
    await session.flush()
    await session.refresh(note, ["created_at"])
    author = await session.scalar(select(ApiKey.name).where(
        ApiKey.id == api_key_id, ApiKey.tenant_id == tenant_id)) if api_key_id else None
    emit(session, str(tenant_id), {"type": "NoteAdded", "conversationId": str(conversation_id),
                                   "note": note_dict(note, author)})
    return note, author


async def delete_note(session: AsyncSession, tenant_id: uuid.UUID, note_id: uuid.UUID) -> None:
    conversation_id = await session.scalar(
        delete(ConversationNote)
        .where(ConversationNote.id == note_id, ConversationNote.tenant_id == tenant_id)
        .returning(ConversationNote.conversation_id)
    )
    if conversation_id is None:
        raise NotFound("note")
    emit(session, str(tenant_id), {"type": "NoteDeleted", "conversationId": str(conversation_id),
                                   "noteId": str(note_id)})
