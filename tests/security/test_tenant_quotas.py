"""Budgets that keep one tenant (or one anonymous address) from crowding out the others.

- GRAPHQL_RATE_PER_MINUTE counts per tenant: minting more keys does not buy more requests.
- Requests without a valid key are counted per client address (GRAPHQL_ANON_RATE_PER_MINUTE);
  past that budget a guessed key is not even looked up, and a key already found missing is
  not looked up again.
- MAX_API_KEYS_PER_TENANT live keys at most (LIMIT_REACHED beyond it).
- GRAPHQL_MAX_SOCKETS_PER_TENANT websockets per tenant, all API processes together (4429).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.db import transaction
from app.graphql.ratelimit import RATE_WINDOW_S
from app.graphql.sockets import SOCKET_TTL_S, sockets_key
from app.tenants.service import create_api_key
from tests.cli.test_operator_cli import assert_error, mca
from tests.factories import make_world
from tests.graphql.helpers import PROTOCOL, WS, codes, gql, ok, ws_session
from tests.helpers import in_one_window, wait_for

MINT = 'mutation { createApiKey(name: "more") { key apiKey { id } } }'
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id } }"


@contextmanager
def key_lookups(rt: Any) -> Iterator[list[str]]:
    """Statements that read api_keys, as the database receives them: through SQLAlchemy (its
    cursor event) or hand-written on a pooled connection's asyncpg connection (its query
    logger, which SQLAlchemy's own statements do not reach)."""
    seen: list[str] = []
    watched: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    def logged(query: Any) -> None:
        if "api_keys" in query.query:
            seen.append(query.query)

    def checkout(dbapi_connection: Any, *args: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(logged)
        watched.append(driver)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", record)
    event.listen(rt.engine.sync_engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", record)
        event.remove(rt.engine.sync_engine, "checkout", checkout)
        for driver in watched:
            driver.remove_query_logger(logged)


def garbage() -> str:
    return "mca_" + secrets.token_urlsafe(32)


async def test_the_rate_limit_is_per_tenant_not_per_key(client, rt, world, other, monkeypatch):
    monkeypatch.setattr(rt.settings, "graphql_rate_per_minute", 4)
    async with transaction(rt.sessions) as s:
        _, spare = await create_api_key(s, world.tenant_id, "spare")

    async def burst(_: int) -> None:
        for key in (world.api_key, world.api_key, spare, spare):
            ok(await gql(client, "{ viewer { id } }", key=key))
        for key in (world.api_key, spare):
            body = await gql(client, "{ viewer { id } }", key=key)
            assert codes(body) == ["RATE_LIMITED"] and body["_status"] == 429
            assert "per tenant" in body["errors"][0]["message"]
        ok(await gql(client, "{ viewer { id } }", key=other.api_key))

    await in_one_window(burst, RATE_WINDOW_S)


async def test_guessed_keys_are_limited_per_address_and_stop_reaching_the_database(
    client, rt, world, monkeypatch
):
    monkeypatch.setattr(rt.settings, "graphql_anon_rate_per_minute", 5)

    async def burst(_: int) -> None:
        with key_lookups(rt) as lookups:
            for _ in range(5):
                body = await gql(client, "{ viewer { id } }", key=garbage())
                assert codes(body) == ["UNAUTHENTICATED"]
            assert len(lookups) == 5
            for _ in range(20):
                body = await gql(client, "{ viewer { id } }", key=garbage())
                assert codes(body) == ["RATE_LIMITED"] and body["_status"] == 429
                assert int(body["errors"][0]["extensions"]["retryAfter"]) >= 1
            assert len(lookups) == 5  # refused without a lookup

    await in_one_window(burst, RATE_WINDOW_S)


async def test_a_key_found_valid_still_works_from_an_address_over_its_budget(
    client, rt, world, monkeypatch
):
    """Guesses from an address use up its anonymous budget; a key this process found valid is
    not refused with them (it skips the budget's check), but it is still looked up on every
    request: once revoked, it is refused at once."""

    async def burst(_: int) -> None:
        monkeypatch.setattr(rt.settings, "graphql_anon_rate_per_minute", 100)
        minted = ok(await gql(client, MINT, key=world.api_key))["createApiKey"]
        key = minted["key"]
        ok(await gql(client, "{ viewer { id } }", key=key))
        monkeypatch.setattr(rt.settings, "graphql_anon_rate_per_minute", 2)
        for _ in range(2):
            body = await gql(client, "{ viewer { id } }", key=garbage())
            assert codes(body) == ["UNAUTHENTICATED"]
        assert codes(await gql(client, "{ viewer { id } }", key=garbage())) == ["RATE_LIMITED"]
        with key_lookups(rt) as lookups:
            ok(await gql(client, "{ viewer { id } }", key=key))
        assert len(lookups) == 1
        ok(await gql(client, REVOKE, {"id": minted["apiKey"]["id"]}, key=world.api_key))
        # Over the budget, a key not found is refused as one more guess; within it, as a bad
        # key.
        assert codes(await gql(client, "{ viewer { id } }", key=key)) == ["RATE_LIMITED"]
        monkeypatch.setattr(rt.settings, "graphql_anon_rate_per_minute", 100)
        assert codes(await gql(client, "{ viewer { id } }", key=key)) == ["UNAUTHENTICATED"]

    await in_one_window(burst, RATE_WINDOW_S)


async def test_requests_without_a_key_are_limited_per_address(client, rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "graphql_anon_rate_per_minute", 3)

    async def burst(_: int) -> None:
        for _ in range(3):
            assert codes(await gql(client, "{ viewer { id } }")) == ["UNAUTHENTICATED"]
        body = await gql(client, "{ viewer { id } }")
        assert codes(body) == ["RATE_LIMITED"] and body["_status"] == 429
        assert "without a valid API key" in body["errors"][0]["message"]

    await in_one_window(burst, RATE_WINDOW_S)


async def test_a_key_found_missing_is_not_looked_up_again(client, rt):
    key = garbage()
    with key_lookups(rt) as lookups:
        for _ in range(3):
            assert codes(await gql(client, "{ viewer { id } }", key=key)) == ["UNAUTHENTICATED"]
    assert len(lookups) == 1


async def test_valid_keys_are_looked_up_every_time(client, rt, world):
    """No positive caching: a revoked key is refused on the very next request."""
    with key_lookups(rt) as lookups:
        for _ in range(3):
            ok(await gql(client, "{ viewer { id } }", key=world.api_key))
    assert len(lookups) == 3


async def test_api_keys_per_tenant_are_capped(client, rt, world, other, monkeypatch):
    monkeypatch.setattr(rt.settings, "max_api_keys_per_tenant", 3)
    made = [ok(await gql(client, MINT, key=world.api_key)) for _ in range(2)]
    body = await gql(client, MINT, key=world.api_key)
    assert codes(body) == ["LIMIT_REACHED"] and "3 live API keys" in body["errors"][0]["message"]
    ok(await gql(client, MINT, key=other.api_key))  # the other tenant has its own quota
    ok(await gql(client, REVOKE, {"id": made[0]["createApiKey"]["apiKey"]["id"]}, key=world.api_key))
    ok(await gql(client, MINT, key=world.api_key))  # a revoked key frees its slot


async def test_concurrent_key_creation_cannot_pass_the_cap(client, rt, world, monkeypatch):
    monkeypatch.setattr(rt.settings, "max_api_keys_per_tenant", 2)
    bodies = await asyncio.gather(*(gql(client, MINT, key=world.api_key) for _ in range(6)))
    assert sorted(str(codes(b)) for b in bodies) == ["['LIMIT_REACHED']"] * 5 + ["[]"]


async def refused_with(live: Any, key: str) -> tuple[int, str]:
    async with connect(live.ws_url, subprotocols=[PROTOCOL]) as conn:  # type: ignore[list-item]
        ws = WS(conn)
        await ws.send({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


async def test_websockets_per_tenant_are_capped_across_api_processes(
    live, second, rt, settings, world, other, monkeypatch
):
    monkeypatch.setattr(settings, "graphql_max_sockets_per_tenant", 2)
    # A socket left behind by an API process that died: its expiry has passed, it does not count.
    await rt.redis.zadd(sockets_key(world.tenant_id), {"dead-process-socket": time.time() - 1})
    async with ws_session(live, world.api_key), ws_session(second, world.api_key) as on_second:
        for server in (live, second):
            code, reason = await refused_with(server, world.api_key)
            assert code == 4429 and "at most 2 per tenant" in reason
        async with ws_session(second, other.api_key) as theirs:  # their own quota
            q = await theirs.subscribe("{ viewer { name } }")
            assert (await theirs.next_for(q))["payload"]["data"]["viewer"]["name"] == "Intruder"
        await on_second.conn.close()

        async def freed() -> bool:
            return int(await rt.redis.zcard(sockets_key(world.tenant_id))) == 1

        await wait_for(freed)
        async with ws_session(live, world.api_key) as again:
            q = await again.subscribe("{ viewer { name } }")
            assert (await again.next_for(q))["payload"]["data"]["viewer"]["name"] == "Acme"


async def test_guessing_keys_on_the_websocket_is_limited_per_address(live, settings, monkeypatch):
    monkeypatch.setattr(settings, "graphql_anon_rate_per_minute", 3)

    async def burst(_: int) -> None:
        for _ in range(3):
            assert (await refused_with(live, garbage()))[0] == 4403
        code, reason = await refused_with(live, garbage())
        assert code == 4429 and "without a valid API key" in reason

    await in_one_window(burst, RATE_WINDOW_S)


async def test_a_process_keeps_its_sockets_counted_while_they_are_open(app, rt, world):
    sockets = app.state.sockets
    key = sockets_key(world.tenant_id)
    sock = await sockets.open(world.tenant_id, uuid.uuid4(), lambda: None)
    assert sock is not None
    await rt.redis.zadd(key, {sock.id: time.time() + 1})  # about to lapse
    await sockets.renew()
    assert float(await rt.redis.zscore(key, sock.id)) > time.time() + SOCKET_TTL_S - 5
    sockets.close(sock)

    async def gone() -> bool:
        return await rt.redis.zscore(key, sock.id) is None

    await wait_for(gone)


async def test_the_cli_keeps_the_same_key_cap(runtime):
    world = await make_world(runtime)
    r = await mca("apikey", "create", "--tenant", str(world.tenant_id), "--name", "ci",
                  MAX_API_KEYS_PER_TENANT="1")
    assert_error(r, "already has 1 live API keys")
    r = await mca("apikey", "create", "--tenant", str(world.tenant_id), "--name", "ci",
                  MAX_API_KEYS_PER_TENANT="2")
    assert r.code == 0, r.err
