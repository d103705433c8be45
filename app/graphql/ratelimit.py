"""Fixed one-minute request budgets counted in Redis, so every API process shares them.

Two kinds of caller: a tenant (every key of the tenant shares one budget,
GRAPHQL_RATE_PER_MINUTE) and a client address without a valid key (no key, a malformed one, or
one that does not exist: GRAPHQL_ANON_RATE_PER_MINUTE). An address that has used up its
anonymous budget is not even looked up any more until the minute ends, so guessing keys costs
no database read. A key this process has found valid in the last minute skips that check (one
Redis read per request) but is still looked up every time.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from typing import Any

RATE_WINDOW_S = 60


def rate_key(identity: str, window: int) -> str:
    return f"mca:rl:gql:{identity}:{window}"


def tenant_identity(tenant_id: uuid.UUID | None) -> str:
    return f"t:{tenant_id}" if tenant_id is not None else "admin"


def address_identity(address: str) -> str:
    return f"ip:{address}"


def _window(now: float) -> tuple[int, int]:
    window = int(now // RATE_WINDOW_S)
    return window, max(1, int((window + 1) * RATE_WINDOW_S - now))


# Counts one operation; the window's key expires once the window is well over. One round trip
# and one command per request (a pipeline of INCR and EXPIRE sent two).
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


async def hit(redis: Any, identity: str) -> tuple[int, int]:
    """Count one operation; (operations this window so far, seconds until the window ends)."""
    window, retry_after = _window(time.time())
    count = await redis.eval(_HIT, 1, rate_key(identity, window), str(RATE_WINDOW_S * 2))
    return int(count), retry_after


async def used(redis: Any, identity: str) -> tuple[int, int]:
    """Operations counted this window, without counting one."""
    window, retry_after = _window(time.time())
    return int(await redis.get(rate_key(identity, window)) or 0), retry_after


class RecentHashes:
    """Key hashes remembered briefly per process: an LRU of at most `size`, each for `ttl_s`.

    `known_bad`: keys that were looked up and not found. A hash cached as bad can only become
    good if someone presented a key before it was created (256 random bits): never.
    `known_good`: keys found valid. Used only to skip the anonymous budget's check, never to
    authenticate: a key that exists is looked up on every request, so a revoked key stops
    working at once.
    """

    def __init__(self, size: int = 10_000, ttl_s: float = 60.0) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, key_hash: str) -> bool:
        at = self._seen.get(key_hash)
        if at is None:
            return False
        if time.monotonic() - at > self.ttl_s:
            del self._seen[key_hash]
            return False
        return True

    def add(self, key_hash: str) -> None:
        self._seen[key_hash] = time.monotonic()
        self._seen.move_to_end(key_hash)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)


known_bad = RecentHashes()
known_good = RecentHashes()
