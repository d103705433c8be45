"""The per-process pub/sub hub (DESIGN decision 7).

One Redis connection per API process pattern-subscribes to every tenant's topic and fans each
event out in-process to the subscriptions of that process. A connection per subscriber would
collapse at about a thousand subscribers; one shared connection costs one socket and one JSON
parse per event, whatever the number of subscribers.

Slow subscribers: each subscription has a bounded queue. When it is full, the hub drops that
subscription's backlog and leaves a single `Gap` marker in its place, so the reader task never
waits on a subscriber and the others are not stalled. A gap is not a loss: the subscriber
replays what it missed from Postgres (the source of truth) starting at the last event it
delivered. The same marker is given to every subscription after the Redis connection had to be
re-established, since events published while it was down never reached this process.

The same connection also listens to the control topic (API key revocations): each control
notice goes to the process's control listeners, and after a reconnect they are told that
notices may have been missed, so they can check the source of truth themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from app.metrics import OPEN_SUBSCRIPTIONS
from app.realtime.topics import CONTROL_TOPIC, EVENTS_PATTERN, tenant_topic

log = logging.getLogger("app.realtime.hub")

Event = dict[str, Any]
# A control listener gets each control notice, or None after a reconnect (notices may be lost).
ControlListener = Callable[[Event | None], None]
DEFAULT_QUEUE_SIZE = 1000
# Stamped on each event when it arrives: wall-clock time for cursors, monotonic time to
# compare with this process's own reads.
RECEIVED_AT = "_receivedAt"
RECEIVED_MONO = "_receivedMono"
_TOPIC_PREFIX = tenant_topic("").encode()


@dataclass(frozen=True)
class Gap:
    """Events may have been lost before this point: "overflow" or "reconnect"."""

    reason: str


@dataclass(eq=False)
class Subscription:
    """One consumer's view of the hub: a tenant, optionally one conversation and event types."""

    tenant_id: str
    conversation_id: str | None
    types: frozenset[str] | None
    queue: asyncio.Queue[Event | Gap]
    dropped: int = 0

    async def get(self) -> Event | Gap:
        return await self.queue.get()

    def offer(self, item: Event | Gap) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # Keeping the newest events would still leave a hole in the middle; a clean break
            # followed by a replay from Postgres is simpler for the consumer and just as cheap.
            self.dropped += self.queue.qsize() + isinstance(item, dict)
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(Gap("overflow") if isinstance(item, dict) else item)


@dataclass
class HubStats:
    received: int = 0
    delivered: int = 0
    overflows: int = 0
    reconnects: int = 0


class Hub:
    def __init__(
        self, redis_url: str, *, queue_size: int = DEFAULT_QUEUE_SIZE, name: str = "mca-hub"
    ) -> None:
        self._redis_url = redis_url
        self._queue_size = queue_size
        self.name = name  # the Redis CLIENT name, to find the connection
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        # tenant id -> conversation id (None: every conversation) -> subscriptions
        self._subs: dict[str, dict[str | None, set[Subscription]]] = {}
        self._control: list[ControlListener] = []
        self.stats = HubStats()

    def add_control_listener(self, listener: ControlListener) -> None:
        """Called (in the hub's task; it must not block) for every control notice."""
        self._control.append(listener)

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for by_conv in self._subs.values() for s in by_conv.values())

    async def start(self) -> None:
        """Connect and subscribe; returns once events published from now on will arrive."""
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="realtime-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    @contextlib.contextmanager
    def subscribe(
        self,
        tenant_id: str,
        conversation_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> Iterator[Subscription]:
        """Register a subscription for the duration of the `with` block.

        Registration is synchronous, so anything published after `subscribe` returns is
        queued: a caller that reads Postgres afterwards cannot miss an event in between.
        """
        sub = Subscription(tenant_id, conversation_id, types, asyncio.Queue(self._queue_size))
        self._subs.setdefault(tenant_id, {}).setdefault(conversation_id, set()).add(sub)
        OPEN_SUBSCRIPTIONS.inc()
        try:
            yield sub
        finally:
            OPEN_SUBSCRIPTIONS.dec()
            by_conv = self._subs.get(tenant_id, {})
            subs = by_conv.get(conversation_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del by_conv[conversation_id]
            if not by_conv:
                self._subs.pop(tenant_id, None)

    def dispatch(self, channel: bytes, data: bytes) -> None:
        """Deliver one raw pub/sub message to the matching subscriptions."""
        self.stats.received += 1
        by_conv = self._subs.get(channel[len(_TOPIC_PREFIX):].decode())
        if not by_conv:
            return  # nobody here listens to this tenant: not even worth parsing
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("ignoring a malformed event on %r", channel)
            return
        if not isinstance(event, dict):
            return
        event[RECEIVED_AT] = datetime.now(UTC)
        event[RECEIVED_MONO] = time.monotonic()
        targets = [*by_conv.get(None, ())]
        conversation_id = event.get("conversationId")
        if isinstance(conversation_id, str):
            targets.extend(by_conv.get(conversation_id, ()))
        kind = event.get("type")
        for sub in targets:
            if sub.types is None or kind in sub.types:
                before = sub.dropped
                sub.offer(event)
                self.stats.delivered += 1
                if sub.dropped != before:
                    self.stats.overflows += 1

    def dispatch_control(self, data: bytes | None) -> None:
        event: Event | None = None
        if data is not None:
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                log.warning("ignoring a malformed control notice")
                return
            if not isinstance(parsed, dict):
                return
            event = parsed
        for listener in self._control:
            try:
                listener(event)
            except Exception:
                log.exception("a control listener failed")

    def _gap_all(self, reason: str) -> None:
        for by_conv in self._subs.values():
            for subs in by_conv.values():
                for sub in subs:
                    sub.offer(Gap(reason))

    async def _connect(self) -> PubSub:
        self._redis = Redis.from_url(
            self._redis_url, socket_keepalive=True, health_check_interval=30,
            socket_connect_timeout=5, client_name=self.name,
        )
        pubsub = self._pubsub = self._redis.pubsub()
        await pubsub.psubscribe(EVENTS_PATTERN)
        await pubsub.subscribe(CONTROL_TOPIC)
        # Wait for both confirmations: only then are the pattern and the topic live.
        pending = {"psubscribe", "subscribe"}
        while pending:
            msg = await pubsub.get_message(timeout=5.0)
            if msg is None:
                raise ConnectionError("no subscribe confirmation from Redis")
            pending.discard(msg["type"])
        return pubsub

    async def _disconnect(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.reset()
            self._pubsub = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                pubsub = self._pubsub
                if pubsub is None:
                    pubsub = await self._connect()
                    self.stats.reconnects += 1
                    # Subscribed again: whatever was published meanwhile is only in Postgres.
                    self._gap_all("reconnect")
                    self.dispatch_control(None)
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None and msg["type"] == "pmessage":
                    self.dispatch(msg["channel"], msg["data"])
                elif msg is not None and msg["type"] == "message":
                    self.dispatch_control(msg["data"])
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("realtime hub lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
