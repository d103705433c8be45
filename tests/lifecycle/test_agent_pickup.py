"""A conversation opened before its channel had an agent is answered once the agent exists."""

from __future__ import annotations

from app.agents.service import create_agent
from app.db import transaction
from app.effects import flush, take
from tests.factories import make_world
from tests.helpers import db_rows as rows
from tests.helpers import wait_for
from tests.meta import signed, wa_message, wa_webhook

CUSTOMER = "5215512345678"


async def _post(client, account: str, text: str) -> None:
    raw, headers = signed(wa_webhook(account, [wa_message(text, sender=CUSTOMER)]))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text


async def test_a_conversation_without_an_agent_picks_up_the_channels_new_agent(
    client, runtime, worker, graph, test_env
):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, with_agent=False)
    await _post(client, world.account_id, "Hola")
    await wait_for(lambda: rows(db, "SELECT 1 FROM messages WHERE text='Hola' "
                                    "AND status='skipped' AND status_reason='no_agent'"), timeout=10)

    async with transaction(runtime.sessions) as s:
        agent = await create_agent(s, runtime.settings, world.tenant_id,
                                   channel_id=world.channel_id, name="Sales",
                                   model="gpt-4.1-mini", instructions="Be brief.")
    await flush(take(s), runtime.redis)

    await _post(client, world.account_id, "¿Hay alguien?")
    await wait_for(lambda: rows(db, "SELECT 1 FROM messages WHERE direction='outbound' "
                                    "AND status='sent'"), timeout=10)
    [conv] = await rows(db, "SELECT agent_id, archived_at FROM conversations")
    assert (conv["agent_id"], conv["archived_at"]) == (agent.id, None)
    msgs = await rows(db, "SELECT text, status, status_reason FROM messages "
                          "WHERE direction='inbound' ORDER BY seq")
    assert [(m["text"], m["status"], m["status_reason"]) for m in msgs] == [
        ("Hola", "skipped", "no_agent"), ("¿Hay alguien?", "answered", None)]
    sends = await graph.requests(account_id=world.account_id)
    assert [s["json"]["text"]["body"] for s in sends] == ["[sandbox] ¿Hay alguien?"]
