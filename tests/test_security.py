from __future__ import annotations

import logging

import asyncpg

from app.channels.service import channel_token
from app.logs import JsonFormatter, redact
from app.models import Channel
from tests.factories import make_world


async def test_channel_token_is_encrypted_at_rest(runtime, test_env):
    world = await make_world(runtime, token="EAAG-super-secret-token-123")
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        dump = await conn.fetch("SELECT * FROM channels")
    finally:
        await conn.close()
    assert "EAAG-super-secret-token-123" not in repr(dump)
    async with runtime.sessions() as s:
        channel = await s.get(Channel, world.channel_id)
        assert channel_token(channel, runtime.settings) == "EAAG-super-secret-token-123"


async def test_api_key_only_hash_stored(runtime, test_env):
    world = await make_world(runtime)
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        dump = await conn.fetch("SELECT * FROM api_keys")
    finally:
        await conn.close()
    assert world.api_key not in repr(dump)


def test_logs_never_carry_secrets():
    line = redact("Authorization: Bearer EAAsecret123 key=mca_abcdefghijklmnop "
                  "postgresql://u:hunter2@host/db access_token=xyz123")
    for secret in ("EAAsecret123", "mca_abcdefghijklmnop", "hunter2", "xyz123"):
        assert secret not in line
    rec = logging.LogRecord("x", logging.INFO, "f", 1, "token=abc123456 sent", None, None)
    assert "abc123456" not in JsonFormatter().format(rec)
