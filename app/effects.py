"""Jobs and events held until the transaction commits (DESIGN decision 6).

A service records side effects on the session; the caller flushes them after commit, so a
rolled-back transaction never wakes a worker or tells a dashboard about something that did
not happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "mca_effects"


@dataclass
class Effects:
    wakeups: list[str] = field(default_factory=list)  # conversation ids
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (tenant_id, event)
    cache_invalidations: list[str] = field(default_factory=list)  # redis keys

    def __bool__(self) -> bool:
        return bool(self.wakeups or self.events or self.cache_invalidations)


def effects_of(session: AsyncSession) -> Effects:
    eff = session.info.get(_KEY)
    if eff is None:
        eff = session.info[_KEY] = Effects()
    assert isinstance(eff, Effects)
    return eff


def wake(session: AsyncSession, conversation_id: str) -> None:
    eff = effects_of(session)
    if conversation_id not in eff.wakeups:
        eff.wakeups.append(conversation_id)


def emit(session: AsyncSession, tenant_id: str, event: dict[str, Any]) -> None:
    effects_of(session).events.append((tenant_id, event))


def invalidate(session: AsyncSession, key: str) -> None:
    effects_of(session).cache_invalidations.append(key)


def take(session: AsyncSession) -> Effects:
    """Remove and return what the session collected (call after commit)."""
    return session.info.pop(_KEY, None) or Effects()


WAKE_FLAG_TTL_S = 300


def wake_flag_key(conversation_id: str) -> str:
    return f"mca:wake:{conversation_id}"


async def enqueue_wakeups(queue: Any, conversation_ids: list[str], *, force: bool = False) -> int:
    """Enqueue "conversation C has work" jobs, collapsing bursts for the same conversation.

    The flag is cleared by the worker as soon as it starts on C, so a message that lands after
    that start always gets a job of its own. `force` (the sweeper) ignores the flag, which may
    be left behind by a job that a dead worker took with it.
    """
    enqueued = 0
    for cid in conversation_ids:
        if force or await queue.set(wake_flag_key(cid), b"1", nx=True, ex=WAKE_FLAG_TTL_S):
            await queue.enqueue_job("process_conversation", cid)
            enqueued += 1
    return enqueued


async def flush(effects: Effects, queue: Any) -> None:
    """Run the side effects of a committed transaction. `queue` is an arq pool (a Redis client)."""
    from app.realtime.topics import publish_events

    if effects.cache_invalidations:
        await queue.delete(*effects.cache_invalidations)
    if effects.wakeups:
        await enqueue_wakeups(queue, effects.wakeups)
    if effects.events:
        await publish_events(queue, effects.events)
