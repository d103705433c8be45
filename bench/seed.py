"""Benchmark data: tenants, channels and agents through the real services; bulk rows in SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import httpx

from app.config import Settings


@dataclass
class World:
    tenant_id: uuid.UUID
    api_key: str
    channel_id: uuid.UUID
    account_id: str


async def make_world(settings: Settings, *, credits: int = 10_000_000, name: str = "Bench") -> World:
    from app.agents.service import create_agent
    from app.channels.service import create_channel
    from app.channels.verification import verify_account
    from app.db import create_engine, create_session_factory, transaction
    from app.tenants.service import create_tenant

    account = str(uuid.uuid4().int)[:15]
    token = "EAAbenchtoken"
    # The benchmarks run against the fake Graph server: it must know the token owns the
    # number before the platform agrees to connect it.
    async with httpx.AsyncClient() as http:
        fake = settings.meta_graph_api_base_url.rsplit("/", 1)[0]
        await http.post(fake + "/_fake/accounts", json={
            "kind": "whatsapp", "account_id": account, "token": token, "name": name})
        verified = await verify_account(http, settings, "whatsapp", account, token)
    engine = create_engine(settings, pool_size=1)
    try:
        async with transaction(create_session_factory(engine)) as s:
            tenant, key = await create_tenant(s, name, credits)
            channel = await create_channel(
                s,
                settings,
                tenant.id,
                kind="whatsapp",
                provider_account_id=account,
                access_token=token,
                display_name=f"{name} WhatsApp",
                verified=verified,
            )
            await create_agent(
                s,
                settings,
                tenant.id,
                channel_id=channel.id,
                name="Sales",
                model="gpt-4.1-mini",
                instructions="Be brief.",
                credits_per_reply=1,
            )
    finally:
        await engine.dispose()
    return World(tenant.id, key, channel.id, account)


async def bulk_conversations(dsn: str, world: World, conversations: int, per_conversation: int) -> None:
    """`conversations` open conversations with `per_conversation` answered messages each, and
    a lead for every tenth conversation.

    generate_series in one transaction: a million rows take tens of seconds, not minutes.
    Indexes stay in place, so the reads are measured on the same indexes production has.
    """
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                """
                CREATE TEMP TABLE seed ON COMMIT DROP AS
                SELECT g AS n, gen_random_uuid() AS contact_id, gen_random_uuid() AS conv_id
                FROM generate_series(1, $1) g""",
                conversations,
            )
            await conn.execute(
                """
                INSERT INTO contacts (id, tenant_id, channel_id, external_id, wa_id, profile_name)
                SELECT contact_id, $1, $2, (6000000000000 + n)::text, (6000000000000 + n)::text,
                       'Customer ' || n FROM seed""",
                world.tenant_id,
                world.channel_id,
            )
            await conn.execute(
                """
                INSERT INTO conversations (id, tenant_id, channel_id, agent_id, contact_id, mode,
                                           last_seq, last_inbound_at, last_activity_at)
                SELECT conv_id, $1, $2, (SELECT id FROM agents WHERE channel_id = $2 LIMIT 1),
                       contact_id, 'ai', $3, now() - n * interval '1 second',
                       now() - n * interval '1 second'
                FROM seed""",
                world.tenant_id,
                world.channel_id,
                per_conversation,
            )
            await conn.execute(
                """
                INSERT INTO messages (id, tenant_id, conversation_id, channel_id, seq, direction,
                                      sender_role, type, text, provider_message_id, status,
                                      reply_to_seq, created_at, updated_at)
                SELECT gen_random_uuid(), $1, s.conv_id, $2, k,
                       CASE WHEN k % 2 = 1 THEN 'inbound' ELSE 'outbound' END,
                       CASE WHEN k % 2 = 1 THEN 'customer' ELSE 'ai' END, 'text',
                       'seeded message ' || k || ' of conversation ' || s.n,
                       CASE WHEN k % 2 = 1 THEN 'wamid.seed.' || s.n || '.' || k END,
                       CASE WHEN k % 2 = 1 THEN 'answered' ELSE 'sent' END,
                       CASE WHEN k % 2 = 0 THEN k - 1 END,
                       now() - s.n * interval '1 second' - ($3 - k) * interval '10 ms',
                       now() - s.n * interval '1 second' - ($3 - k) * interval '10 ms'
                FROM seed s CROSS JOIN generate_series(1, $3) k""",
                world.tenant_id,
                world.channel_id,
                per_conversation,
            )
            # One extraction for every tenth conversation: the leads page's rows.
            await conn.execute(
                """
                INSERT INTO leads (id, tenant_id, conversation_id, name, email, intent, urgency,
                                   budget, fit, engagement, notification, from_seq, to_seq,
                                   model, created_at)
                SELECT gen_random_uuid(), $1, conv_id, 'Customer ' || n,
                       'customer' || n || '@example.com', 'wants a demo', 1 + n % 3,
                       1 + (n / 3) % 3, 1 + (n / 9) % 3, 1 + (n / 27) % 3,
                       'Customer ' || n || ' asked for a demo', 1, $2, 'gpt-4.1-mini',
                       now() - n * interval '1 second'
                FROM seed WHERE n % 10 = 0""",
                world.tenant_id,
                per_conversation,
            )
        await conn.execute(
            "ANALYZE contacts; ANALYZE conversations; ANALYZE messages; ANALYZE leads"
        )
    finally:
        await conn.close()


async def conversation_ids(dsn: str, tenant_id: uuid.UUID, limit: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM conversations WHERE tenant_id = $1 ORDER BY last_activity_at DESC LIMIT $2",
            tenant_id,
            limit,
        )
    finally:
        await conn.close()
    return [str(r[0]) for r in rows]
