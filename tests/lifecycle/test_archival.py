"""Archival: a channel's conversations are archived in the same transaction as the agent or
channel change that causes it; if archiving fails, the change fails too."""

from __future__ import annotations

import pytest

from app.agents.service import create_agent, delete_channel
from app.db import transaction
from app.effects import flush, take
from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import post_text

CUSTOMER = "5215512345678"


async def _replace_agent(runtime, world, name: str = "Support") -> None:
    async with transaction(runtime.sessions) as s:
        await create_agent(s, runtime.settings, world.tenant_id, channel_id=world.channel_id, name=name,
                           model="gpt-4.1", instructions="Help.")
    # As the mutation does: the routing cache learns the new agent only after commit.
    await flush(take(s), runtime.redis)


async def test_new_agent_archives_conversations_atomically(
    client, runtime, worker, graph, monkeypatch, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await post_text(client, world.account_id, "Hola", sender=CUSTOMER)
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent'"))
    [old] = await db_rows(db, "SELECT id FROM conversations")

    async def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("archive table unavailable")

    # Archiving fails: the agent change must not happen either.
    monkeypatch.setattr("app.conversations.service.archive_channel_conversations", broken)
    with pytest.raises(RuntimeError, match="archive table unavailable"):
        await _replace_agent(runtime, world)
    monkeypatch.undo()
    agents = await db_rows(db, "SELECT id, deleted_at FROM agents")
    assert [(a["id"], a["deleted_at"]) for a in agents] == [(world.agent_id, None)]
    assert (await db_rows(db, "SELECT archived_at FROM conversations"))[0]["archived_at"] is None
    assert await db_rows(db, "SELECT 1 FROM conversation_archives") == []

    await _replace_agent(runtime, world)
    [conv] = await db_rows(db, "SELECT archived_at FROM conversations WHERE id=$1", old["id"])
    [archive] = await db_rows(db, "SELECT * FROM conversation_archives")
    assert archive["conversation_id"] == old["id"]
    assert (archive["reason"], archive["agent_id"], archive["message_count"]) == (
        "agent_replaced", world.agent_id, 2)
    [retired] = await db_rows(db, "SELECT deleted_at FROM agents WHERE id=$1", world.agent_id)
    [new_agent] = await db_rows(db, "SELECT id, created_at FROM agents WHERE deleted_at IS NULL")
    # now() is the transaction's start time: equal stamps mean one transaction did it all.
    assert conv["archived_at"] == archive["archived_at"] == retired["deleted_at"] \
        == new_agent["created_at"]

    # The same customer writes again: a new conversation, answered by the new agent.
    await post_text(client, world.account_id, "¿Siguen ahí?", sender=CUSTOMER)
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent' "
                                    "AND conversation_id<>$1", old["id"]))
    convs = await db_rows(db, "SELECT id, agent_id, archived_at, last_seq FROM conversations "
                           "ORDER BY created_at")
    assert len(convs) == 2 and convs[0]["id"] == old["id"]
    assert (convs[0]["last_seq"], convs[0]["archived_at"] is not None) == (2, True)
    assert (convs[1]["agent_id"], convs[1]["archived_at"], convs[1]["last_seq"]) == (
        new_agent["id"], None, 2)


async def test_deleting_the_channel_archives_its_conversations(client, runtime, worker, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await post_text(client, world.account_id, "Hola", sender=CUSTOMER)
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status='sent'"))
    async with transaction(runtime.sessions) as s:
        await delete_channel(s, world.tenant_id, world.channel_id)
    [archive] = await db_rows(db, "SELECT reason FROM conversation_archives")
    assert archive["reason"] == "channel_deleted"
    [conv] = await db_rows(db, "SELECT archived_at FROM conversations")
    assert conv["archived_at"] is not None
