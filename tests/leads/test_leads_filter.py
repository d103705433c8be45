"""leads(filter: {channelId, minFit, minUrgency, updatedAfter, hasEmail})."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows, db_value
from tests.leads.test_export import SEED

LEADS = """query($f: LeadFilter, $after: String) { leads(first: 100, filter: $f, after: $after) {
  edges { node { id fit urgency email conversation { channel { id } } } }
  pageInfo { hasNextPage endCursor } } }"""


async def _all(client, key: str, f: dict | None) -> list[dict]:
    nodes, after = [], None
    while True:
        page = ok(await gql(client, LEADS, {"f": f, "after": after}, key=key))["leads"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_leads_filters_match_the_database(client, runtime, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, name="Acme")
    other = await make_world(runtime, name="Other")
    await db_rows(db, SEED, world.tenant_id, world.channel_id, 150)
    await db_rows(db, SEED, other.tenant_id, other.channel_id, 5)
    await db_rows(db, "UPDATE leads SET created_at = now() - interval '3 days' "
                      "WHERE id IN (SELECT id FROM leads WHERE tenant_id = $1 LIMIT 40)",
                  world.tenant_id)

    hot = await _all(client, world.api_key, {"minFit": 3, "minUrgency": 3, "hasEmail": True})
    expected = await db_value(db, "SELECT count(*) FROM leads WHERE tenant_id = $1 AND fit >= 3 "
                                  "AND urgency >= 3 AND email IS NOT NULL", world.tenant_id)
    assert len(hot) == expected > 0
    assert all(n["fit"] == 3 and n["urgency"] == 3 and n["email"] for n in hot)

    without = await _all(client, world.api_key, {"hasEmail": False})
    assert without and all(n["email"] is None for n in without)

    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = await _all(client, world.api_key, {"updatedAfter": since})
    assert len(recent) == 110

    # A channel filter: the tenant's own channel gives all, another tenant's is not found.
    mine = await _all(client, world.api_key, {"channelId": str(world.channel_id)})
    assert len(mine) == 150
    assert {n["conversation"]["channel"]["id"] for n in mine} == {str(world.channel_id)}
    foreign = await gql(client, LEADS, {"f": {"channelId": str(other.channel_id)}},
                        key=world.api_key)
    assert codes(foreign) == ["NOT_FOUND"]
    bad = await gql(client, LEADS, {"f": {"minFit": 4}}, key=world.api_key)
    assert codes(bad) == ["BAD_USER_INPUT"]
