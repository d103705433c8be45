"""Builders for tenants, channels and agents through the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.agents.service import create_agent
from app.channels.service import create_channel
from app.channels.verification import VerifiedAccount, verify_account
from app.db import transaction
from app.tenants.service import create_tenant
from tests.fakes import own_account


@dataclass
class World:
    tenant_id: uuid.UUID
    api_key: str
    channel_id: uuid.UUID
    account_id: str
    agent_id: uuid.UUID | None
    token: str


async def make_world(
    rt: Any,
    *,
    kind: str = "whatsapp",
    credits: int = 100,
    account_id: str | None = None,
    token: str = "EAAtesttoken",
    with_agent: bool = True,
    credits_per_reply: int = 1,
    name: str = "Acme",
    options: dict[str, Any] | None = None,
) -> World:
    account = account_id if account_id is not None else (
        None if kind == "webchat" else str(uuid.uuid4().int)[:15]
    )
    verified: VerifiedAccount | None = None
    if account is not None and kind != "webchat":
        # Connected the way a tenant connects one: the fake Graph server knows the token owns
        # the account, and the platform asks it.
        await own_account(rt.http, rt.settings, kind, account, token, name=f"{name} {kind}")
        verified = await verify_account(rt.http, rt.settings, kind, account, token)
    async with transaction(rt.sessions) as s:
        tenant, key = await create_tenant(s, name, credits)
        channel = await create_channel(
            s, rt.settings, tenant.id, kind=kind, provider_account_id=account,
            access_token=None if kind == "webchat" else token, display_name=f"{name} {kind}",
            options=options, verified=verified,
        )
        agent_id = None
        if with_agent:
            agent = await create_agent(
                s, rt.settings, tenant.id, channel_id=channel.id, name="Sales", model="gpt-4.1-mini",
                instructions="Be brief.", credits_per_reply=credits_per_reply,
            )
            agent_id = agent.id
    return World(tenant.id, key, channel.id, channel.provider_account_id, agent_id, token)
