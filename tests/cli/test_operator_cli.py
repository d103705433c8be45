"""The operator CLI, run as the real `mca` entry point in a subprocess with the test
environment (DATABASE_URL, REDIS_URL, META_APP_SECRET, ... are in os.environ)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.tenants.repository import tenant_for_api_key
from tests.factories import make_world
from tests.helpers import db_rows, free_port, wait_for

MCA = str(Path(sys.executable).with_name("mca"))


@dataclass
class Result:
    code: int
    out: str
    err: str


async def mca(*args: str, **env: str) -> Result:
    proc = await asyncio.create_subprocess_exec(
        MCA, *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def assert_error(r: Result, text: str) -> None:
    """One clear line on stderr, a non-zero exit."""
    assert r.code != 0, r
    assert r.err.startswith("error: ") and r.err.strip().count("\n") == 0, r.err
    assert text in r.err, r.err


async def test_apikey_create_and_revoke(runtime, test_env):
    world = await make_world(runtime)
    r = await mca("apikey", "create", "--tenant", str(world.tenant_id), "--name", "ci", "--json")
    assert r.code == 0, r.err
    created = json.loads(r.out)
    assert (created["tenant_id"], created["name"]) == (str(world.tenant_id), "ci")
    async with runtime.sessions() as s:
        tenant = await tenant_for_api_key(s, created["api_key"])
    assert tenant is not None and tenant.id == world.tenant_id
    [row] = await db_rows(test_env["DATABASE_URL"], "SELECT key_hash FROM api_keys WHERE id=$1",
                       uuid.UUID(created["id"]))
    assert created["api_key"] not in row["key_hash"]  # only a hash is stored

    r = await mca("apikey", "revoke", created["id"])
    assert r.code == 0 and "revoked" in r.out, r.err
    async with runtime.sessions() as s:
        assert await tenant_for_api_key(s, created["api_key"]) is None
    # The tenant's other key still works.
    async with runtime.sessions() as s:
        assert await tenant_for_api_key(s, world.api_key) is not None

    assert_error(await mca("apikey", "revoke", created["id"]), "not found or already revoked")
    assert_error(await mca("apikey", "create", "--tenant", str(uuid.uuid4()), "--name", "x"),
                 "tenant not found")
    assert_error(await mca("apikey", "create", "--tenant", "acme", "--name", "x"),
                 "--tenant must be a UUID")


async def test_apikey_create_prints_the_key_once_for_humans(runtime):
    world = await make_world(runtime)
    r = await mca("apikey", "create", "--tenant", str(world.tenant_id), "--name", "dashboard")
    assert r.code == 0, r.err
    key = r.out.split("key (shown once): ")[1].strip()
    async with runtime.sessions() as s:
        assert await tenant_for_api_key(s, key) is not None


async def test_credits_grant(runtime, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, credits=10)
    r = await mca("credits", "grant", str(world.tenant_id), "25", "--reason", "April top-up")
    assert r.code == 0, r.err
    assert "balance 35" in r.out
    [tenant] = await db_rows(db, "SELECT credit_balance FROM tenants")
    [ledger] = await db_rows(db, "SELECT sum(delta) AS s FROM credit_ledger")
    assert tenant["credit_balance"] == ledger["s"] == 35
    reasons = [r["reason"] for r in await db_rows(db, "SELECT reason FROM credit_ledger")]
    assert "cli: April top-up" in reasons

    assert_error(await mca("credits", "grant", str(world.tenant_id), "0", "--reason", "x"),
                 "positive")
    assert_error(await mca("credits", "grant", str(world.tenant_id), "5", "--reason", " "),
                 "--reason must not be empty")
    assert_error(await mca("credits", "grant", str(uuid.uuid4()), "5", "--reason", "x"),
                 "tenant not found")
    [tenant] = await db_rows(db, "SELECT credit_balance FROM tenants")
    assert tenant["credit_balance"] == 35


async def test_channel_list_never_shows_tokens(runtime):
    acme = await make_world(runtime, name="Acme", token="EAA-secret-acme")
    other = await make_world(runtime, name="Globex", kind="instagram", token="EAA-secret-globex",
                             with_agent=False)
    r = await mca("channel", "list")
    assert r.code == 0, r.err
    for text in (str(acme.channel_id), str(acme.tenant_id), acme.account_id, "Acme",
                 "Sales (gpt-4.1-mini)",
                 str(other.channel_id), "instagram", "2 channel(s)"):
        assert text in r.out, text
    assert "EAA-secret" not in r.out + r.err

    r = await mca("channel", "list", "--tenant", str(other.tenant_id), "--json")
    assert r.code == 0, r.err
    [only] = json.loads(r.out)
    assert (only["id"], only["kind"], only["agent"]) == (str(other.channel_id), "instagram", None)
    assert not any("token" in key for key in only)

    r = await mca("channel", "list", "--tenant", str(uuid.uuid4()))
    assert r.code == 0 and r.out.startswith("no channels"), r
    assert_error(await mca("channel", "list", "--tenant", "nope"), "--tenant must be a UUID")


async def test_export_schema(test_env):
    r = await mca("export-schema")
    assert r.code == 0, r.err
    assert "type Query" in r.out


async def test_simulate_whatsapp_posts_a_signed_webhook(live, runtime, worker, graph, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    r = await mca("simulate", "whatsapp", "--channel", world.account_id, "--from", "+52 1 55 1234 5678",
                  "--url", live.url, "Hola desde la CLI ñ")
    assert r.code == 0, r.err
    assert r.out.startswith("HTTP 200 ") and json.loads(r.out[9:])["stored"] == 1
    [msg] = await db_rows(db, "SELECT text FROM messages WHERE direction='inbound'")
    assert msg["text"] == "Hola desde la CLI ñ"
    # The quickest way to watch the pipeline work: the worker answers it.
    [send] = await wait_for(lambda: graph.requests(account_id=world.account_id))
    assert send["json"]["to"] == "+5215512345678"
    assert send["json"]["text"]["body"] == "[sandbox] Hola desde la CLI ñ"


async def test_simulate_whatsapp_errors(live, runtime, test_env):
    world = await make_world(runtime)
    args = ("simulate", "whatsapp", "--channel", world.account_id, "--from", "5215512345678",
            "--url", live.url, "hola")
    assert_error(await mca(*args, META_APP_SECRET="not-the-server-secret"), "answered 401")
    assert_error(await mca("simulate", "whatsapp", "--channel", "000", "--from", "52155", "--url",
                           live.url, "hola"), "no live WhatsApp channel")
    assert_error(await mca("simulate", "whatsapp", "--channel", world.account_id, "--from",
                           "ana", "--url", live.url, "hola"), "--from must be a phone number")
    closed = f"http://127.0.0.1:{free_port()}"
    assert_error(await mca("simulate", "whatsapp", "--channel", world.account_id, "--from",
                           "52155", "--url", closed, "hola"), "cannot reach")
    assert await db_rows(test_env["DATABASE_URL"], "SELECT 1 FROM messages") == []
