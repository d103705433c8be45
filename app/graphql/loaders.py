"""DataLoaders: one batched, tenant-scoped query per kind of related row, per request.

A page of 50 conversations asking for each one's channel, contact and last message costs one
query per kind instead of one per conversation. Rows are read in their own short session:
resolvers run concurrently and one AsyncSession must not be shared between them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Select, select, tuple_
from strawberry.dataloader import DataLoader

from app.db import driver_connection
from app.inbox import pages as inbox_pages
from app.models import (
    Agent,
    Attachment,
    Channel,
    Contact,
    Conversation,
    ConversationLabel,
    Label,
    Lead,
    Message,
    Operator,
)
from app.models.message import WITHOUT_RAW
from app.runtime import Runtime

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loaders:
    def __init__(
        self, rt: Runtime, tenant_id: uuid.UUID, *, cache: bool = True,
        operator_id: uuid.UUID | None = None,
    ) -> None:
        self.rt = rt
        self.tenant_id = tenant_id
        # The calling operator (None for a machine key): read markers are theirs.
        self.operator_id = operator_id
        self._cache = cache

    # Each loader is made on first use: a request uses one or two of them, often none (a
    # page loads its related rows itself).
    def _loader(
        self, fn: Callable[[list[K]], Awaitable[Sequence[V | None]]]
    ) -> DataLoader[K, V | None]:
        return DataLoader(load_fn=fn, cache=self._cache)

    @cached_property
    def channel(self) -> DataLoader[uuid.UUID, Channel | None]:
        # Channels include deleted ones: an archived conversation still shows where it
        # happened.
        return self._loader(self._channels)

    @cached_property
    def contact(self) -> DataLoader[uuid.UUID, Contact | None]:
        return self._loader(self._contacts)

    @cached_property
    def conversation(self) -> DataLoader[uuid.UUID, Conversation | None]:
        return self._loader(self._conversations)

    @cached_property
    def live_agent_by_channel(self) -> DataLoader[uuid.UUID, Agent | None]:
        return self._loader(self._live_agents)

    @cached_property
    def latest_lead(self) -> DataLoader[uuid.UUID, Lead | None]:
        return self._loader(self._latest_leads)

    @cached_property
    def message_at(self) -> DataLoader[tuple[uuid.UUID, int], Message | None]:
        # Keyed by (conversation id, seq): the conversation row already knows its last seq,
        # so the lookup is a unique-index probe per key.
        return self._loader(self._messages_at)

    @cached_property
    def labels(self) -> DataLoader[uuid.UUID, list[Label]]:
        return DataLoader(load_fn=self._labels, cache=self._cache)

    @cached_property
    def operator(self) -> DataLoader[uuid.UUID, Operator | None]:
        return self._loader(self._operators)

    @cached_property
    def read_state(self) -> DataLoader[uuid.UUID, tuple[int, int] | None]:
        # By conversation: the calling operator's (last read seq, unread customer messages).
        return self._loader(self._read_states)

    @cached_property
    def attachments(self) -> DataLoader[uuid.UUID, list[Attachment]]:
        # A message's files (Message.attachments), in order.
        return DataLoader(load_fn=self._attachments, cache=self._cache)

    async def _all(self, query: Select[Any]) -> list[Any]:
        async with self.rt.sessions() as session:
            return list((await session.scalars(query)).all())

    async def _channels(self, ids: list[uuid.UUID]) -> list[Channel | None]:
        rows = await self._all(
            select(Channel).where(Channel.tenant_id == self.tenant_id, Channel.id.in_(ids))
        )
        return _by_key(ids, rows, lambda r: r.id)

    async def _contacts(self, ids: list[uuid.UUID]) -> list[Contact | None]:
        rows = await self._all(
            select(Contact).where(Contact.tenant_id == self.tenant_id, Contact.id.in_(ids))
        )
        return _by_key(ids, rows, lambda r: r.id)

    async def _conversations(self, ids: list[uuid.UUID]) -> list[Conversation | None]:
        rows = await self._all(
            select(Conversation).where(
                Conversation.tenant_id == self.tenant_id, Conversation.id.in_(ids)
            )
        )
        return _by_key(ids, rows, lambda r: r.id)

    async def _live_agents(self, channel_ids: list[uuid.UUID]) -> list[Agent | None]:
        rows = await self._all(
            select(Agent).where(
                Agent.tenant_id == self.tenant_id,
                Agent.channel_id.in_(channel_ids),
                Agent.deleted_at.is_(None),
            )
        )
        return _by_key(channel_ids, rows, lambda r: r.channel_id)

    async def _latest_leads(self, conversation_ids: list[uuid.UUID]) -> list[Lead | None]:
        rows = await self._all(
            select(Lead)
            .where(Lead.tenant_id == self.tenant_id, Lead.conversation_id.in_(conversation_ids))
            .distinct(Lead.conversation_id)
            .order_by(Lead.conversation_id, Lead.created_at.desc(), Lead.id.desc())
        )
        return _by_key(conversation_ids, rows, lambda r: r.conversation_id)

    async def _messages_at(self, keys: list[tuple[uuid.UUID, int]]) -> list[Message | None]:
        rows = await self._all(
            select(Message).options(WITHOUT_RAW).where(
                Message.tenant_id == self.tenant_id,
                tuple_(Message.conversation_id, Message.seq).in_(keys),
            )
        )
        return _by_key(keys, rows, lambda r: (r.conversation_id, r.seq))

    async def _labels(self, conversation_ids: list[uuid.UUID]) -> list[list[Label]]:
        """Each conversation's labels, by name."""
        async with self.rt.sessions() as session:
            rows = (await session.execute(
                select(ConversationLabel.conversation_id, Label)
                .join(Label, Label.id == ConversationLabel.label_id)
                .where(ConversationLabel.tenant_id == self.tenant_id,
                       ConversationLabel.conversation_id.in_(conversation_ids))
                .order_by(Label.name, Label.id)
            )).all()
        found: dict[uuid.UUID, list[Label]] = {}
        for conversation_id, label in rows:
            found.setdefault(conversation_id, []).append(label)
        return [found.get(c, []) for c in conversation_ids]

    async def _operators(self, ids: list[uuid.UUID]) -> list[Operator | None]:
        rows = await self._all(
            select(Operator).where(Operator.tenant_id == self.tenant_id, Operator.id.in_(ids))
        )
        return _by_key(ids, rows, lambda r: r.id)

    async def _read_states(self, ids: list[uuid.UUID]) -> list[tuple[int, int] | None]:
        if self.operator_id is None:
            return [None for _ in ids]
        async with driver_connection(self.rt.engine) as conn:
            found = await inbox_pages.reads(conn, self.tenant_id, self.operator_id, ids)
        return [(int(found[k]["last_read_seq"]), int(found[k]["unread"])) if k in found else None
                for k in ids]

    async def _attachments(self, message_ids: list[uuid.UUID]) -> list[list[Attachment]]:
        rows = await self._all(
            select(Attachment).where(Attachment.tenant_id == self.tenant_id,
                                     Attachment.message_id.in_(message_ids))
            .order_by(Attachment.message_id, Attachment.position)
        )
        found: dict[uuid.UUID, list[Attachment]] = {}
        for a in rows:
            if a.message_id is not None:
                found.setdefault(a.message_id, []).append(a)
        return [found.get(k, []) for k in message_ids]


def _by_key(keys: Sequence[K], rows: Sequence[V], key: Callable[[V], K]) -> list[V | None]:
    found = {key(r): r for r in rows}
    return [found.get(k) for k in keys]
