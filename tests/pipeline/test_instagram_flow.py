from __future__ import annotations

from tests.factories import make_world
from tests.helpers import db_rows, wait_for
from tests.meta import ig_webhook, signed


async def test_instagram_dm_is_answered_and_echo_is_not(client, runtime, worker, graph, model, test_env):
    world = await make_world(runtime, kind="instagram", token="IGQ-token")
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-77", "hola desde IG"))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["stored"] == 1
    sends = await wait_for(lambda: graph.requests(account_id=world.account_id))
    assert len(sends) == 1
    assert sends[0]["authorization"] == "Bearer IGQ-token"
    assert sends[0]["json"] == {"recipient": {"id": "IGSID-77"},
                                "message": {"text": "[sandbox] hola desde IG"}}
    mid = sends[0]["response"]["message_id"]
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, f"SELECT 1 FROM messages WHERE provider_message_id = '{mid}'"))
    # Meta echoes our own reply back: it must never be answered.
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-77", "[sandbox] hola desde IG",
                                     mid=mid, echo=True))
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["stored"] == 0
    # A read receipt moves our reply to read; a reaction is recorded, not answered.
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-77", event={"read": {"mid": mid}}))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-77", event={
        "reaction": {"mid": mid, "action": "react", "reaction": "love", "emoji": "❤"}}))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    settled = [("inbound", "text", "answered"), ("outbound", "text", "read"),
               ("inbound", "reaction", "skipped")]

    async def statuses() -> bool:
        rows = await db_rows(test_env["DATABASE_URL"],
                             "SELECT direction, type, status FROM messages ORDER BY seq")
        return [tuple(r) for r in rows] == settled

    await wait_for(statuses)
    # The reaction is recorded, never answered: still the one send.
    assert len(await graph.requests(account_id=world.account_id)) == 1
    second_turn = await wait_for(lambda: model.requests())
    assert len(second_turn) == 1
