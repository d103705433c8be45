"""Jobs and events held until the transaction commits (DESIGN decision 6).

A service records side effects on the session; the caller flushes them after commit, so a
rolled-back transaction never wakes a worker or tells a dashboard about something that did
not happen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import orjson
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from sqlalchemy.ext.asyncio import AsyncSession

from app.outages import DEPENDENCIES, is_redis_outage
from app.realtime.topics import CONTROL_TOPIC, tenant_topic

log = logging.getLogger("app.effects")

_KEY = "mca_effects"


@dataclass
class Effects:
    wakeups: list[str] = field(default_factory=list)  # conversation ids
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (tenant_id, event)
    cache_invalidations: list[str] = field(default_factory=list)  # redis keys
    control: list[dict[str, Any]] = field(default_factory=list)  # notices to every API process
    # How many of `events` the webhook outbox has written (app/integrations/outbox.py).
    outbox_seen: int = 0

    def wake(self, conversation_id: str) -> None:
        if conversation_id not in self.wakeups:
            self.wakeups.append(conversation_id)

    def merge(self, other: Effects) -> None:
        for cid in other.wakeups:
            self.wake(cid)
        self.events.extend(other.events)
        self.cache_invalidations.extend(other.cache_invalidations)
        self.control.extend(other.control)

    def __bool__(self) -> bool:
        return bool(self.wakeups or self.events or self.cache_invalidations or self.control)


def effects_of(session: AsyncSession) -> Effects:
    eff = session.info.get(_KEY)
    if not isinstance(eff, Effects):
        eff = session.info[_KEY] = Effects()
    return eff


def wake(session: AsyncSession, conversation_id: str) -> None:
    effects_of(session).wake(conversation_id)


def emit(session: AsyncSession, tenant_id: str, event: dict[str, Any]) -> None:
    effects_of(session).events.append((tenant_id, event))


def notify_processes(session: AsyncSession, notice: dict[str, Any]) -> None:
    """A control notice (app.realtime.topics) for every API process, sent after commit."""
    effects_of(session).control.append(notice)


def invalidate(session: AsyncSession, key: str) -> None:
    effects_of(session).cache_invalidations.append(key)


def take(session: AsyncSession) -> Effects:
    """Remove and return what the session collected (call after commit)."""
    return session.info.pop(_KEY, None) or Effects()


WAKE_FLAG_TTL_S = 300


def wake_flag_key(conversation_id: str) -> str:
    return f"mca:wake:{conversation_id}"


# "Conversation C has work": set C's wake flag to a new job's id and, only if it was not set,
# add a process_conversation job exactly as arq's enqueue_job stores one (job key, then
# queue score), atomically in Redis. The flag stays set while that job waits or runs (the job
# clears it before its last look for work), so a burst of messages adds one job, not one per
# message. The sweeper (mode 'force') replaces the flag and its job unless the flagged job is
# still waiting in the queue: one that a dead worker had taken is replaced. Batched with the
# events in one pipeline, a webhook's side effects are one round trip.
_WAKE = """
if ARGV[1] == 'force' then
    local queued = redis.call('GET', KEYS[1])
    if queued and redis.call('ZSCORE', KEYS[3], queued)
            and redis.call('EXISTS', ARGV[7] .. queued) == 0 then
        return 0
    end
    redis.call('SET', KEYS[1], ARGV[6], 'EX', ARGV[2])
elseif not redis.call('SET', KEYS[1], ARGV[6], 'NX', 'EX', ARGV[2]) then
    return 0
end
redis.call('PSETEX', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
return 1
"""


def _queue_wakeup(pipe: Any, queue: Any, cid: str, force: bool) -> None:
    job_id = uuid4().hex
    now_ms = timestamp_ms()
    job = serialize_job("process_conversation", (cid,), {}, None, now_ms,
                        serializer=queue.job_serializer)
    keys = [wake_flag_key(cid), job_key_prefix + job_id, queue.default_queue_name]
    args = ["force" if force else "once", WAKE_FLAG_TTL_S, queue.expires_extra_ms, job, now_ms,
            job_id, in_progress_key_prefix]
    pipe.eval(_WAKE, len(keys), *keys, *args)


async def enqueue_wakeups(queue: Any, conversation_ids: list[str], *, force: bool = False) -> int:
    """Enqueue "conversation C has work" jobs (see _WAKE); the number actually enqueued."""
    if not conversation_ids:
        return 0
    async with queue.pipeline(transaction=False) as pipe:
        for cid in conversation_ids:
            _queue_wakeup(pipe, queue, cid, force)
        return sum(int(x) for x in await pipe.execute())


async def flush(effects: Effects, queue: Any) -> None:
    """Run the side effects of a committed transaction in one round trip. `queue` is an arq
    pool (a Redis client)."""
    if not effects:
        return
    async with queue.pipeline(transaction=False) as pipe:
        if effects.cache_invalidations:
            pipe.delete(*effects.cache_invalidations)
        for cid in effects.wakeups:
            _queue_wakeup(pipe, queue, cid, False)
        for tenant_id, event in effects.events:
            pipe.publish(tenant_topic(tenant_id), orjson.dumps(event))
        for notice in effects.control:
            pipe.publish(CONTROL_TOPIC, orjson.dumps(notice))
        await pipe.execute()


async def flush_committed(effects: Effects, queue: Any) -> bool:
    """flush(), for callers whose transaction has committed: when Redis is unreachable the
    effects are dropped with a warning instead of failing the caller. Nothing is lost: the
    rows are in Postgres, the sweeper wakes their conversations once Redis is back, and
    subscribers replay what they missed after the hub's reconnect. False when dropped."""
    try:
        await flush(effects, queue)
    except Exception as exc:
        if not is_redis_outage(exc):
            raise
        DEPENDENCIES.down("redis", exc)
        log.info("Redis unreachable after commit: %d wake-ups and %d events left to the "
                    "sweeper and to replays", len(effects.wakeups), len(effects.events))
        return False
    DEPENDENCIES.up("redis")
    return True
