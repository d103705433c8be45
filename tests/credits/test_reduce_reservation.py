"""Giving back part of a batch's reservation (media the agent could not read): once, with the
reservation shrinking by what the balance gains, so the later commit or release stays exact."""

from __future__ import annotations

from app.credits import service as credits
from app.db import session_driver, transaction
from app.models import Message
from tests.factories import make_world
from tests.graphql.helpers import seed_conversation
from tests.helpers import db_rows


async def test_a_reduction_happens_once_and_a_release_after_it_is_exact(runtime, test_env):
    world = await make_world(runtime, credits=10)
    cid = await seed_conversation(runtime, world, texts=("hola",))
    db = test_env["DATABASE_URL"]
    async with transaction(runtime.sessions) as s:
        rows = (await s.execute(Message.__table__.select().where(Message.conversation_id == cid))).all()
        marked, balance = await credits.reserve_batch(
            await session_driver(s), world.tenant_id, cid, "b1", 3, [r.id for r in rows])
    assert marked and balance == 7
    for _ in range(2):  # a batch run again after a crash reduces nothing more
        async with transaction(runtime.sessions) as s:
            await credits.reduce_reservation(s, "b1", 2, "media not read", world.tenant_id, cid)
    assert (await db_rows(db, "SELECT credit_balance FROM tenants"))[0][0] == 9
    assert (await db_rows(db, "SELECT amount FROM credit_reservations"))[0][0] == 1
    async with transaction(runtime.sessions) as s:
        assert await credits.reduce_reservation(s, "b1", 1, "again", world.tenant_id, cid) is False
        await credits.release(s, "b1", "send failed")
    assert (await db_rows(db, "SELECT credit_balance FROM tenants"))[0][0] == 10
    assert (await db_rows(db, "SELECT sum(delta) FROM credit_ledger"))[0][0] == 10
