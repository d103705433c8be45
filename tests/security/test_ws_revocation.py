"""A revoked API key must not live on in the websockets it opened.

The attack: open a socket with key K, have K revoked (by the tenant, over HTTP, on another API
process, or by the operator's CLI), and keep using the socket: receive events, run queries,
mint a fresh key with createApiKey. After a revocation the socket is closed with 4401 within
seconds on every API process, and no operation on it runs any more.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from app.db import transaction
from app.effects import flush, take
from app.tenants.service import create_api_key, revoke_api_key
from tests.cli.test_operator_cli import mca
from tests.factories import World
from tests.graphql.helpers import WS, codes, gql, ok, ws_session
from tests.helpers import db_rows

REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }"
MINT = 'mutation { createApiKey(name: "backdoor") { key } }'


async def key_id_of(rt: Any, world: World) -> str:
    rows = await db_rows(rt.settings.database_url, "SELECT id FROM api_keys WHERE tenant_id = $1",
                         world.tenant_id)
    assert len(rows) == 1
    return str(rows[0]["id"])


async def second_key(rt: Any, world: World) -> str:
    async with transaction(rt.sessions) as s:
        _, plain = await create_api_key(s, world.tenant_id, "admin console")
    return plain


async def close_code(ws: WS, timeout: float = 5) -> int | None:
    """Read (and drop) whatever still arrives until the server closes the socket."""
    try:
        while True:
            await ws.recv(timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def live_socket(ws: WS) -> str:
    """A running subscription and a query answered: the socket works before the revocation."""
    op = await ws.subscribe("subscription { creditBalance }")
    assert (await ws.next_for(op))["type"] == "next"
    q = await ws.subscribe("{ viewer { name } }")
    assert (await ws.next_for(q))["payload"]["data"]["viewer"]["name"] == "Acme"
    return op


async def key_count(rt: Any, world: World) -> int:
    rows = await db_rows(rt.settings.database_url,
                         "SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1", world.tenant_id)
    return int(rows[0]["n"])


async def test_revoked_key_socket_is_closed_and_can_no_longer_mint_keys(live, rt, world):
    kid = await key_id_of(rt, world)
    admin_key = await second_key(rt, world)
    async with ws_session(live, world.api_key) as ws:
        await live_socket(ws)
        async with httpx.AsyncClient(base_url=live.url) as http:
            ok(await gql(http, REVOKE, {"id": kid}, key=admin_key))
            # HTTP refuses the key at once.
            assert codes(await gql(http, "{ viewer { id } }", key=world.api_key)) == ["UNAUTHENTICATED"]
        keys_before = await key_count(rt, world)
        # Right after the revocation, before or after the notice arrived: nothing runs.
        try:
            op = await ws.subscribe(MINT)
            reply = await ws.next_for(op, timeout=5)
            raise AssertionError(f"an operation ran on a revoked socket: {reply}")
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4401
        assert await key_count(rt, world) == keys_before


async def test_an_operation_sent_before_the_notice_arrives_is_refused(live, rt, world, test_env):
    async with ws_session(live, world.api_key) as ws:
        await live_socket(ws)
        keys_before = await key_count(rt, world)
        # Revoked with no notice at all (as if it had not arrived yet): the operation itself
        # finds the key gone.
        await db_rows(test_env["DATABASE_URL"],
                      "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1", world.tenant_id)
        await ws.subscribe(MINT)
        assert await close_code(ws, timeout=5) == 4401
    assert await key_count(rt, world) == keys_before


async def test_revocation_on_one_api_process_closes_the_socket_on_another(live, second, rt, world):
    kid = await key_id_of(rt, world)
    admin_key = await second_key(rt, world)
    async with ws_session(second, world.api_key) as ws:
        await live_socket(ws)
        async with httpx.AsyncClient(base_url=live.url) as http:
            ok(await gql(http, REVOKE, {"id": kid}, key=admin_key))
        # No operation sent: the other process closes the socket on its own, on the notice.
        assert await close_code(ws, timeout=5) == 4401
    # The other key of the tenant keeps its sockets.
    async with ws_session(second, admin_key) as ws:
        await live_socket(ws)


async def test_the_cli_revocation_closes_open_sockets(live, rt, world):
    kid = await key_id_of(rt, world)
    async with ws_session(live, world.api_key) as ws:
        await live_socket(ws)
        r = await mca("apikey", "revoke", kid)
        assert r.code == 0, r.err
        assert await close_code(ws, timeout=10) == 4401


async def test_a_revocation_missed_while_the_hub_reconnected_is_caught_up(live, rt, world, test_env):
    async with ws_session(live, world.api_key) as ws:
        await live_socket(ws)
        # Revoked behind the API's back (no notice published), then the hub loses Redis: on
        # reconnecting it checks the keys of its open sockets.
        await db_rows(test_env["DATABASE_URL"],
                      "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1", world.tenant_id)
        pubsub = (await rt.redis.execute_command("CLIENT", "LIST", "TYPE", "pubsub")).decode()
        for line in pubsub.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            await rt.redis.execute_command("CLIENT", "KILL", "ID", fields["id"])
        assert await close_code(ws, timeout=10) == 4401


async def test_other_tenants_sockets_are_untouched(live, rt, world, other):
    kid = await key_id_of(rt, world)
    async with ws_session(live, other.api_key) as theirs, ws_session(live, world.api_key) as ws:
        op = await theirs.subscribe("subscription { creditBalance }")
        assert (await theirs.next_for(op))["type"] == "next"
        async with transaction(rt.sessions) as s:
            assert await revoke_api_key(s, world.tenant_id, uuid.UUID(kid))
        await flush(take(s), rt.redis)
        assert await close_code(ws, timeout=5) == 4401
        q = await theirs.subscribe("{ viewer { name } }")
        assert (await theirs.next_for(q))["payload"]["data"]["viewer"]["name"] == "Intruder"


async def test_revoking_another_tenants_key_is_not_found(client, rt, world, other):
    kid = await key_id_of(rt, world)
    body = await gql(client, REVOKE, {"id": kid}, key=other.api_key)
    assert codes(body) == ["NOT_FOUND"]
    ok(await gql(client, "{ viewer { id } }", key=world.api_key))

