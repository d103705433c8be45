"""`process_conversation`: answer a conversation's pending messages, in order, exactly once.

1. Take the ordering key's lock (Redis lease + Postgres fencing lease); if held, stop: the
   holder sees the new rows.
2. Holding it: read every `received` row in seq order, mark them `processing` and reserve
   credits (one commit); call the model; store the reply `pending` (unique per batch, fenced
   commit); send; mark the reply `sent`, the batch `answered`, commit the credits (one commit).
   Repeat until nothing is `received`.
3. Release, then look once more: a wake-up that came while the lock was held was dropped.

A batch found `processing` with a `pending` reply was interrupted mid-send: its reply becomes
`unknown` and is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import orjson
from arq.worker import Retry
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.agents.variables import CallContext
from app.ai.responses import ModelError, ModelReply, generate_reply
from app.channels.adapters.registry import window_open
from app.channels.service import mark_needs_reauth
from app.conversations import events, retry
from app.conversations.service import add_message
from app.credits import service as credits
from app.db import driver_connection, session_driver, transaction
from app.effects import emit, flush_committed, take, wake_flag_key
from app.media import inbound as media_inbound
from app.media.inbound import fallback_reply, media_charge, needs_media
from app.metrics import CREDITS_CONSUMED, REPLIES_SENT, STAGE_SECONDS, observe_queue_wait
from app.models import Agent, Channel, Contact, Conversation, CreditReservation, Message, Tenant
from app.models.message import WITHOUT_RAW
from app.models.states import ChannelStatus, ConversationMode, MessageDirection, MessageStatus, SenderRole
from app.outages import DEPENDENCIES, backoff_s, is_db_outage, retry_outage
from app.pipeline.breaker import BreakerOpen
from app.pipeline.delivery import Delivery, deliver
from app.pipeline.lock import LeaseLost, OrderingLock
from app.runtime import Runtime

log = logging.getLogger("app.pipeline.batch")

T = TypeVar("T")

MAX_BATCH = 50
MAX_ROUNDS = 20
# A busy conversation gives its job slot back after this many batches, so a few chatty
# customers cannot starve everyone else of worker slots.
BATCHES_PER_JOB = 5


def ordering_key(rt: Runtime, conversation_id: uuid.UUID, channel_id: uuid.UUID) -> str:
    if rt.settings.ordering_scope == "channel":
        return f"ch:{channel_id}"
    return f"c:{conversation_id}"


def batch_key(conversation_id: uuid.UUID, last_seq: int, attempt: int = 0) -> str:
    """The reservation key of the batch ending at `last_seq`. A retried turn reserves under a
    key of its own per attempt: the failed attempt's reservation was released, and a key
    reserved before moves no credits (app/conversations/retry.py)."""
    if attempt:
        return f"{conversation_id}:{last_seq}:r{attempt}"
    return f"{conversation_id}:{last_seq}"


def _key_of(cid: uuid.UUID, rows: list[Message]) -> str:
    return batch_key(cid, rows[-1].seq, retry.attempt_of(rows[-1].meta))


async def process_conversation(ctx: dict[str, Any], conversation_id: str) -> str:
    """The wake flag of a conversation stays set while its job is queued or running, so new
    messages meanwhile add no jobs: the job looks for pending rows after clearing the flag,
    and a message committed after that look sets the flag again and gets a job of its own."""
    rt: Runtime = ctx["rt"]
    flag = wake_flag_key(conversation_id)
    try:
        outcome = await _process(rt, conversation_id, flag)
    except Exception as exc:
        if is_db_outage(exc) and ctx.get("job_try", 1) < OUTAGE_TRIES:
            # Postgres went away while this job held nothing (or after it let go): the same
            # job runs again shortly, its wake flag still set.
            DEPENDENCIES.down("postgres", exc)
            raise Retry(defer=1 + backoff_s(ctx.get("job_try", 1), base=0.5, cap=2.0)) from exc
        await rt.redis.delete(flag)
        raise
    except BaseException:
        await rt.redis.delete(flag)
        raise
    return outcome


# Runs of one job through database outages; then the sweeper takes over.
OUTAGE_TRIES = 3


async def _process(rt: Runtime, conversation_id: str, flag: str) -> str:
    cid = uuid.UUID(conversation_id)
    async with driver_connection(rt.engine) as conn:
        channel_id = await conn.fetchval(_CHANNEL_OF, cid)
    if channel_id is None:
        await rt.redis.delete(flag)
        return "missing"
    key = ordering_key(rt, cid, channel_id)
    for _ in range(MAX_ROUNDS):
        lock = OrderingLock(rt, key)
        if not await lock.acquire() and not await _busy_flag_cleared(rt, lock, flag):
            # The holder looks for pending rows after its release, which is after this
            # attempt, so it sees every message committed before it.
            return "busy"
        try:
            finished = await _drain_through_outages(rt, lock, cid, channel_id)
        except LeaseLost:
            log.warning("lost the ordering lease mid-batch; another worker takes over: %s", key)
            await rt.redis.delete(flag)
            return "lease_lost"
        finally:
            await lock.release()
        if not finished:
            # Enqueued only after the release, so the next job cannot find the lock still
            # held; the flag stays set for it.
            await rt.redis.enqueue_job("process_conversation", conversation_id)
            return "yielded"
        await rt.redis.delete(flag)
        if await next_conversation(rt, cid, channel_id) is None:
            return "done"
    await rt.redis.enqueue_job("process_conversation", conversation_id)
    return "requeued"


_CHANNEL_OF = "SELECT channel_id FROM conversations WHERE id = $1"
_NEXT_IN_CONVERSATION = """
SELECT conversation_id FROM messages
WHERE conversation_id = $1 AND status IN ('received', 'processing') LIMIT 1
"""
_NEXT_IN_CHANNEL = """
SELECT conversation_id FROM messages
WHERE channel_id = $1 AND status IN ('received', 'processing') AND direction = 'inbound'
ORDER BY created_at, seq LIMIT 1
"""


async def _busy_flag_cleared(rt: Runtime, lock: OrderingLock, flag: str) -> bool:
    """The lock is held by another job. Under channel-wide ordering that job may be on another
    conversation and clears only its own flag: clear this one, then try the lock once more, so
    the holder's last look comes after the clearing (a message whose wake-up found the flag
    still set is seen by it). True when the second attempt took the lock."""
    if rt.settings.ordering_scope != "channel":
        return False
    await rt.redis.delete(flag)
    return await lock.acquire()


async def next_conversation(
    rt: Runtime, cid: uuid.UUID, channel_id: uuid.UUID
) -> uuid.UUID | None:
    """The conversation to work on next under this ordering key, if any (one round trip)."""
    async with driver_connection(rt.engine) as conn:
        if rt.settings.ordering_scope == "channel":
            found: uuid.UUID | None = await conn.fetchval(_NEXT_IN_CHANNEL, channel_id)
        else:
            found = await conn.fetchval(_NEXT_IN_CONVERSATION, cid)
    return found


async def _drain_through_outages(
    rt: Runtime, lock: OrderingLock, cid: uuid.UUID, channel_id: uuid.UUID
) -> bool:
    """drain(), started again after Postgres went away mid-batch, for as long as this
    holder's lease may still hold: the batch resumes from what was committed (a claimed batch
    is claimed again, a reply stored before is never sent twice), and the first fence after
    a lapse raises LeaseLost. The renewal keeps extending the lease once Postgres is back."""
    attempt = 0
    while True:
        try:
            return await drain(rt, lock, cid, channel_id)
        except Exception as exc:
            if not is_db_outage(exc) or lock.lost:
                raise
            DEPENDENCIES.down("postgres", exc)
            wait = backoff_s(attempt, base=0.1, cap=1.0)
            if time.monotonic() + wait >= lock.lease_ends:
                raise
            attempt += 1
            await asyncio.sleep(wait)


async def drain(rt: Runtime, lock: OrderingLock, cid: uuid.UUID, channel_id: uuid.UUID) -> bool:
    """Answer batches until none is pending (True) or this job's share is used up (False)."""
    for i in range(BATCHES_PER_JOB):
        # A job is woken because its conversation has work: the first claim looks itself.
        first = i == 0 and rt.settings.ordering_scope != "channel"
        target = cid if first else await next_conversation(rt, cid, channel_id)
        if target is None:
            return True
        await handle_batch(rt, lock, target)
    return await next_conversation(rt, cid, channel_id) is None


async def _commit(rt: Runtime, session: AsyncSession) -> None:
    await flush_committed(take(session), rt.redis)


async def _step(rt: Runtime, lock: OrderingLock,
                work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One fenced step in a transaction of its own, committed, its effects flushed. A
    connection lost on the way (a Postgres restart or failover) is retried on a fresh one for
    as long as this holder's lease can last: the step's fence re-checks the lease, so a retry
    after it lapsed ends in LeaseLost, as any late commit does. Each step is safe to repeat
    when a lost connection hid whether its commit happened: the claim (a batch already
    `processing` resumes), the store (finds its reply), the settles (forward-only, keyed credit
    movements)."""

    async def attempt() -> tuple[T, AsyncSession]:
        async with transaction(rt.sessions) as session:
            result = await work(session)
        return result, session

    result, session = await retry_outage(attempt, time.monotonic() + lock.ttl_ms / 1000)
    await _commit(rt, session)
    return result


def _mark(session: AsyncSession, conv: Conversation, rows: list[Message], status: str,
          reason: str | None = None) -> None:
    for m in rows:
        m.status = status
        m.status_reason = reason
        emit(session, str(conv.tenant_id), events.message_status_changed(m))


@dataclass
class Claim:
    conv: Conversation
    agent: Agent
    channel: Channel
    contact: Contact
    rows: list[Message]
    key: str
    business_name: str

    def call_context(self) -> CallContext:
        return CallContext(customer_name=self.contact.profile_name or "",
                           channel_kind=self.channel.kind,
                           business_name=self.channel.display_name or self.business_name)


async def handle_batch(rt: Runtime, lock: OrderingLock, cid: uuid.UUID) -> None:
    started = time.perf_counter()
    # 1. claim the batch and reserve credits (one commit)
    claim = await _step(rt, lock, partial(_claim, lock=lock, cid=cid))
    STAGE_SECONDS.labels("claim").observe(time.perf_counter() - started)
    if claim is None:
        return
    if not retry.attempt_of(claim.rows[0].meta):
        # A retried turn waited for an operator, not for the queue.
        observe_queue_wait(claim.rows[0].created_at)
    conv, rows, key = claim.conv, claim.rows, claim.key

    # 2. the model call, outside any transaction; a batch with files fetches them first
    media = None
    if needs_media(rows):
        media = await media_inbound.prepare(rt, claim.channel, rows)
        await _step(rt, lock, partial(_save_media, lock=lock, prepared=media))
    try:
        if media is not None and not media.usable:
            # Nothing the agent can read: a short reply, never silence, priced as a reply.
            extra = media_charge(claim.agent, rows)
            if extra:
                await _step(rt, lock, partial(_refund_media, lock=lock, claim=claim, extra=extra))
            reply = fallback_reply(rt, claim.agent, conv)
        else:
            reply = await generate_reply(rt, claim.agent, conv, rows, claim.call_context(),
                                         content=media.content if media else None)
    except (ModelError, BreakerOpen) as exc:
        reason = exc.reason if isinstance(exc, ModelError) else "breaker_open"
        log.warning("model failed for conversation %s: %s", cid, exc)

        async def failed(session: AsyncSession) -> None:
            await lock.fence(session)
            failed = await _reload(session, rows)
            for m in failed:
                # Which rows a retry puts back together (retryMessage).
                m.meta = {**m.meta, retry.BATCH: key}
            _mark(session, conv, failed, MessageStatus.FAILED, reason)
            await session.flush()
            await credits.release(session, key, "model failed")

        await _step(rt, lock, failed)
        return

    # 3. store the reply as pending: at most one per batch (unique reply_to_seq)
    tries = 0

    async def store(session: AsyncSession) -> tuple[Message, Contact] | None:
        nonlocal tries
        tries += 1
        # Again after a lost connection: the commit may have happened. The batch's reply can
        # only be ours (we hold its lease, and an older one was settled at the claim), not
        # yet sent: found, it goes out now instead of becoming `unknown` unsent.
        found = await _own_reply(session, lock, claim) if tries > 1 else None
        return (found, claim.contact) if found else await _store_reply(session, lock, claim, reply)

    stored = await _step(rt, lock, store)
    if stored is None:
        return
    out, contact = stored

    # 4. send, then settle reply, batch, credits and context pointer in one commit
    result = await deliver(rt, claim.channel, contact, reply.text, str(out.id))
    sent = result.outcome in ("sent", "unknown")

    async def settle(session: AsyncSession) -> None:
        await lock.fence(session)
        if sent:
            await _settle_sent(session, claim, out.id, reply, result.outcome, result.provider_ids)
        else:
            await _settle_failed(session, claim, out.id, result)

    await _step(rt, lock, settle)
    if sent:
        REPLIES_SENT.labels(claim.channel.kind, "ai").inc()
        CREDITS_CONSUMED.inc(claim.agent.credits_per_reply)
    STAGE_SECONDS.labels("batch_total").observe(time.perf_counter() - started)


async def _refund_media(session: AsyncSession, lock: OrderingLock, claim: Claim,
                        extra: int) -> None:
    await lock.fence(session)
    await credits.reduce_reservation(session, claim.key, extra, "media not read",
                                     claim.conv.tenant_id, claim.conv.id)


async def _save_media(session: AsyncSession, lock: OrderingLock,
                      prepared: media_inbound.Prepared) -> None:
    await lock.fence(session)
    await media_inbound.save(session, prepared)


_SET_CONTEXT = """
UPDATE conversations SET context_response_id = $2, handed_back_at = NULL WHERE id = $1
RETURNING tenant_id
"""
# The batch's rows become `answered`; the reply moves forward only (a status webhook may have
# moved it further already) and keeps the first provider id it was given.
_SETTLE_SENT = """
UPDATE messages SET
    status = CASE WHEN id <> $2 THEN 'answered'
                  WHEN status IN ('pending', 'unknown') THEN $3 ELSE status END,
    status_reason = CASE WHEN id <> $2 THEN (CASE WHEN status_reason LIKE 'media\_%'
                    OR status_reason IN ('unsupported_type', 'transcription_failed')
                    THEN status_reason END) ELSE status_reason END,
    provider_message_id = CASE WHEN id = $2 THEN COALESCE(provider_message_id, $4)
                               ELSE provider_message_id END,
    meta = CASE WHEN id = $2 AND provider_message_id IS NULL AND $4::varchar IS NOT NULL
                THEN meta || jsonb_build_object('provider_message_ids', $5::jsonb)
                ELSE meta END,
    updated_at = now()
WHERE id = ANY($1::uuid[]) OR id = $2
RETURNING id, tenant_id, conversation_id, channel_id, seq, direction, sender_role, type, text,
    status, status_reason, error_code, error_title, provider_message_id, created_at
"""
_COMMIT_RESERVATION = """
UPDATE credit_reservations SET state = 'committed', settled_at = now()
WHERE batch_key = $1 AND state = 'reserved'
"""


def _as_message(row: Any) -> Message:
    """A detached Message carrying a statement's returned columns: those an event needs
    (events.message_dict), which the statements here return."""
    return Message(**dict(row))


async def _settle_sent(
    session: AsyncSession, claim: Claim, out_id: uuid.UUID, reply: ModelReply, outcome: str,
    provider_ids: list[str],
) -> None:
    """Reply sent (or maybe sent): batch answered, credits committed, context moved on, in
    three statements after the fence, locking conversation, then messages, as elsewhere."""
    conn = await session_driver(session)
    tenant_id = await conn.fetchval(_SET_CONTEXT, claim.conv.id, reply.response_id)
    rows = await conn.fetch(
        _SETTLE_SENT, [m.id for m in claim.rows], out_id, outcome,
        provider_ids[0] if provider_ids else None, orjson.dumps(provider_ids).decode(),
    )
    await conn.execute(_COMMIT_RESERVATION, claim.key)
    for row in sorted(rows, key=lambda r: r["seq"]):
        emit(session, str(tenant_id), events.message_status_changed(_as_message(row)))


async def _settle_failed(session: AsyncSession, claim: Claim, out_id: uuid.UUID,
                         result: Delivery) -> None:
    conv = await _lock_conversation(session, claim.conv.id)
    # The batch rows and the reply, locked in one round trip.
    locked = await _reload_ids(session, [*(m.id for m in claim.rows), out_id])
    msg = next(m for m in locked if m.id == out_id)
    fresh = [m for m in locked if m.id != out_id]
    msg.status = MessageStatus.FAILED
    msg.status_reason = "provider_error" if result.outcome == "failed" else result.outcome
    msg.error_code, msg.error_title = result.code, result.title
    _mark(session, conv, fresh, MessageStatus.FAILED, "send_failed")
    if result.outcome == "reauth":
        await mark_needs_reauth(session, claim.channel.id)
    await session.flush()
    await credits.release(session, claim.key, "send failed")
    emit(session, str(conv.tenant_id), events.message_status_changed(msg))


async def _lock_conversation(session: AsyncSession, cid: uuid.UUID) -> Conversation:
    conv: Conversation = (await session.execute(
        select(Conversation).where(Conversation.id == cid).with_for_update()
    )).scalar_one()
    return conv


# The claim's two ORM statements, built once: building them for every batch (the column
# comparisons, joins and options) was about 2 % of a worker's samples under the cost load.
# One round trip for everything the batch needs besides its rows; only the conversation row
# is locked (FOR UPDATE OF), as _lock_conversation does.
_CLAIM_CONVERSATION = (
    select(Conversation, Channel, Contact, Agent, Tenant.name)
    .join(Channel, Channel.id == Conversation.channel_id)
    .join(Contact, Contact.id == Conversation.contact_id)
    .join(Tenant, Tenant.id == Conversation.tenant_id)
    .outerjoin(Agent, Agent.id == Conversation.agent_id)
    .where(Conversation.id == bindparam("cid"))
    .with_for_update(of=Conversation)
)
# Pending rows in seq order, in one query: an interrupted batch (`processing`) was claimed
# before anything now `received` arrived, so its rows come first, and it never holds more
# than MAX_BATCH rows.
_CLAIM_PENDING = (
    select(Message).options(WITHOUT_RAW)
    .where(Message.conversation_id == bindparam("cid"),
           Message.direction == MessageDirection.INBOUND,
           Message.status.in_((MessageStatus.PROCESSING, MessageStatus.RECEIVED)))
    .order_by(Message.seq).limit(MAX_BATCH)
)


async def _claim(session: AsyncSession, lock: OrderingLock, cid: uuid.UUID) -> Claim | None:
    await lock.fence(session)
    found = (await session.execute(_CLAIM_CONVERSATION, {"cid": cid})).one()
    conv, channel, contact, agent, business_name = found
    if agent is None and conv.agent_id is None and conv.archived_at is None:
        # Opened before the channel had an agent: it answers with the one the channel has now
        # (a relink archives conversations, so a live one never changes agents otherwise).
        agent = await session.scalar(
            select(Agent).where(Agent.channel_id == conv.channel_id, Agent.deleted_at.is_(None))
        )
        if agent is not None:
            conv.agent_id = agent.id
    pending = list((await session.scalars(_CLAIM_PENDING, {"cid": cid})).all())
    rows = [m for m in pending if m.status == MessageStatus.PROCESSING]
    resumed = bool(rows)
    if resumed and await _settle_interrupted(session, conv, rows):
        return None
    if not resumed:
        rows = pending
        if not rows:
            return None
    key = _key_of(cid, rows)
    skip = _skip_reason(conv, agent, channel)
    if skip is not None or agent is None:
        await credits.release(session, key)
        _mark(session, conv, rows, MessageStatus.SKIPPED, skip or "no_agent")
        return None
    if not resumed:
        amount = agent.credits_per_reply + media_charge(agent, rows)
        marked, balance = await credits.reserve_batch(
            await session_driver(session), conv.tenant_id, cid, key, amount, [m.id for m in rows]
        )
        if not marked:
            _mark(session, conv, rows, MessageStatus.SKIPPED, "no_credits")
            emit(session, str(conv.tenant_id), {
                "type": "ConversationUpdated", "conversationId": str(cid),
                "change": "no_credits", "mode": conv.mode, "archived": False,
            })
            return None
        for m in rows:
            # Written by the statement above: recorded on the objects without a second write.
            set_committed_value(m, "status", "processing")
            set_committed_value(m, "status_reason", None)
            emit(session, str(conv.tenant_id), events.message_status_changed(m))
        if balance is not None and amount > 0:
            emit(session, str(conv.tenant_id), {"type": "CreditBalance",
                                                "tenantId": str(conv.tenant_id),
                                                "balance": balance})
    return Claim(conv, agent, channel, contact, rows, key, business_name)


# The reply at the conversation's next seq, while the conversation is still the AI's and open.
_STORE_REPLY = """
WITH conv AS (
    UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now()
    WHERE id = $1 AND mode = 'ai' AND archived_at IS NULL
    RETURNING id, tenant_id, channel_id, last_seq
)
INSERT INTO messages (id, tenant_id, conversation_id, channel_id, seq, direction, sender_role,
                      type, text, status, reply_to_seq, meta)
SELECT $2, conv.tenant_id, conv.id, conv.channel_id, conv.last_seq, 'outbound', 'ai',
       'text', $3, 'pending', $4, $5
FROM conv
RETURNING id, tenant_id, conversation_id, channel_id, seq, direction, sender_role, type, text,
    status, status_reason, error_code, error_title, provider_message_id, created_at
"""


async def _own_reply(session: AsyncSession, lock: OrderingLock, claim: Claim) -> Message | None:
    await lock.fence(session)
    out = await session.scalar(
        select(Message).options(WITHOUT_RAW)
        .where(Message.conversation_id == claim.conv.id, Message.direction == MessageDirection.OUTBOUND,
               Message.reply_to_seq == claim.rows[-1].seq, Message.status == MessageStatus.PENDING)
    )
    if out is not None:
        emit(session, str(out.tenant_id), events.message_created(out))
    return out


async def _store_reply(
    session: AsyncSession, lock: OrderingLock, claim: Claim, reply: ModelReply
) -> tuple[Message, Contact] | None:
    await lock.fence(session)
    meta = {"response_id": reply.response_id, "model": reply.model, "usage": reply.usage,
            "batch_key": claim.key, **({"sandbox": True} if reply.sandbox else {}),
            **({"fallback": True} if reply.fallback else {})}
    row = await (await session_driver(session)).fetchrow(
        _STORE_REPLY, claim.conv.id, uuid.uuid4(), reply.text, claim.rows[-1].seq,
        orjson.dumps(meta).decode(),
    )
    if row is not None:
        out = _as_message(row)
        emit(session, str(out.tenant_id), events.message_created(out))
        await _hand_off(session, claim, reply)
        # The contact was read with the claim: its address is what we send to.
        return out, claim.contact
    conv = await _lock_conversation(session, claim.conv.id)
    fresh = await _reload(session, claim.rows)
    if conv.mode != ConversationMode.AI or conv.archived_at is not None:
        # An operator took over while the model was thinking: drop the reply, free the credits.
        _mark(session, conv, fresh, MessageStatus.SKIPPED, "human_mode")
        await session.flush()
        await credits.release(session, claim.key, "operator took over")
        return None
    out = await add_message(
        session, conv, direction=MessageDirection.OUTBOUND, sender_role=SenderRole.AI,
        type="text", text=reply.text,
        status=MessageStatus.PENDING, reply_to_seq=claim.rows[-1].seq, meta=meta,
    )
    await _hand_off(session, claim, reply)
    # The contact was read with the claim: its address (external id, wa id) is what we send to.
    return out, claim.contact


# The agent asked for a person: the conversation is the operators' from the commit that stores
# the agent's last message; later customer messages wait for them (human_mode).
_HANDOFF = """
UPDATE conversations SET mode = 'human', handoff_requested_at = now(), handoff_reason = $2
WHERE id = $1 AND mode = 'ai' AND archived_at IS NULL
RETURNING tenant_id
"""


async def _hand_off(session: AsyncSession, claim: Claim, reply: ModelReply) -> None:
    if reply.handoff_reason is None:
        return
    row = await (await session_driver(session)).fetchrow(
        _HANDOFF, claim.conv.id, reply.handoff_reason)
    if row is not None:
        emit(session, str(row["tenant_id"]), {
            "type": "ConversationUpdated", "conversationId": str(claim.conv.id),
            "change": "handoff_requested", "mode": "human", "archived": False,
            "reason": reply.handoff_reason,
        })


async def _reload(session: AsyncSession, rows: list[Message]) -> list[Message]:
    return await _reload_ids(session, [m.id for m in rows])


async def _reload_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[Message]:
    return list((await session.scalars(
        select(Message).options(WITHOUT_RAW)
        .where(Message.id.in_(ids)).order_by(Message.seq).with_for_update()
    )).all())


def _skip_reason(conv: Conversation, agent: Agent | None, channel: Channel) -> str | None:
    if conv.archived_at is not None:
        return "archived"
    if conv.mode == ConversationMode.HUMAN:
        return "human_mode"
    if agent is None or agent.deleted_at is not None:
        return "no_agent"
    if channel.deleted_at is not None or channel.status == ChannelStatus.DISABLED:
        return "channel_inactive"
    if channel.status == ChannelStatus.NEEDS_REAUTH:
        # Every send would fail with 190 again: spend no model tokens until a new token comes.
        return "needs_reauth"
    if not window_open(channel.kind, conv.last_inbound_at):
        return "window_closed"
    return None


async def _settle_interrupted(
    session: AsyncSession, conv: Conversation, rows: list[Message]
) -> bool:
    """A previous holder died mid-batch. True when the batch is settled here; False to redo
    the model call (no reply was stored, so nothing can have been sent)."""
    key = _key_of(conv.id, rows)
    reply = await session.scalar(
        select(Message).where(Message.conversation_id == conv.id,
                              Message.reply_to_seq == rows[-1].seq).with_for_update()
    )
    if reply is None:
        reserved = await session.scalar(
            select(CreditReservation.state).where(CreditReservation.batch_key == key)
        )
        if reserved == "reserved":
            return False
        _mark(session, conv, rows, MessageStatus.RECEIVED)
        return True
    if reply.status == MessageStatus.PENDING:
        # It may or may not have reached the customer: never send it twice.
        reply.status = MessageStatus.UNKNOWN
        emit(session, str(conv.tenant_id), events.message_status_changed(reply))
    if reply.status == MessageStatus.FAILED:
        await credits.release(session, key, "send failed")
        _mark(session, conv, rows, MessageStatus.FAILED, "send_failed")
    else:
        await credits.commit(session, key)
        _mark(session, conv, rows, MessageStatus.ANSWERED)
        # The customer has (probably) seen it: the next turn chains onto it, as it would have.
        response_id = reply.meta.get("response_id")
        if response_id:
            conv.context_response_id = str(response_id)
            conv.handed_back_at = None
    return True
