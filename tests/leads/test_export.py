"""GET /export/leads.csv: filters, tenancy, formula-safe cells, and 100k leads streamed in
bounded memory."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc

import httpx
import pytest

from tests.factories import make_world
from tests.helpers import db_rows

# Well inside pytest's own timeout, so a stall reports what the database was doing.
EXPORT_WAIT_S = 240

# Leads for `n` conversations of one channel, made in three statements.
SEED = """
WITH contacts_made AS (
    INSERT INTO contacts (id, tenant_id, channel_id, external_id, profile_name)
    SELECT gen_random_uuid(), $1, $2, 'c' || i, 'Customer ' || i FROM generate_series(1, $3) AS i
    RETURNING id
), convs AS (
    INSERT INTO conversations (id, tenant_id, channel_id, contact_id, last_seq)
    SELECT gen_random_uuid(), $1, $2, id, 2 FROM contacts_made
    RETURNING id
)
INSERT INTO leads (id, tenant_id, conversation_id, name, email, company, intent, urgency, budget,
                   fit, engagement, notification, from_seq, to_seq, model)
SELECT gen_random_uuid(), $1, id, 'Lead', CASE WHEN random() < 0.5 THEN 'x@example.com' END,
       'Acme', 'buy', 1 + (random() * 2)::int, 2, 1 + (random() * 2)::int, 2, '', 1, 2, 'm'
FROM convs
"""


def _parse(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


async def test_filters_tenancy_and_safe_cells(client, runtime, test_env, settings):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime, name="Acme")
    other = await make_world(runtime, name="Other")
    await db_rows(db, SEED, world.tenant_id, world.channel_id, 40)
    await db_rows(db, SEED, other.tenant_id, other.channel_id, 5)
    # A newer extraction of one conversation replaces the older one in the export.
    await db_rows(db, """INSERT INTO leads (id, tenant_id, conversation_id, name, email, urgency,
                         budget, fit, engagement, notification, from_seq, to_seq, model)
                         SELECT gen_random_uuid(), tenant_id, conversation_id, '=HYPERLINK("x")',
                                'hot@example.com', 3, 3, 3, 3, 'call now', 1, 2, 'm'
                         FROM leads WHERE tenant_id = $1 LIMIT 1""", world.tenant_id)

    auth = {"Authorization": f"Bearer {world.api_key}"}
    r = await client.get("/export/leads.csv", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = _parse(r.content)
    assert len(rows) == 40 and len({row["conversation_id"] for row in rows}) == 40
    [hot] = [row for row in rows if row["email"] == "hot@example.com"]
    assert hot["name"] == "'=HYPERLINK(\"x\")" and hot["fit"] == "3"

    r = await client.get("/export/leads.csv?minFit=3&minUrgency=3&hasEmail=true", headers=auth)
    filtered = _parse(r.content)
    [expected] = await db_rows(db, """SELECT count(*) AS n FROM (SELECT DISTINCT ON
        (conversation_id) fit, urgency, email FROM leads WHERE tenant_id = $1
        ORDER BY conversation_id, created_at DESC, id DESC) AS latest
        WHERE fit >= 3 AND urgency >= 3 AND email IS NOT NULL""", world.tenant_id)
    assert len(filtered) == expected["n"] >= 1
    assert all(row["fit"] == "3" and row["email"] for row in filtered)

    r = await client.get(f"/export/leads.csv?channelId={other.channel_id}", headers=auth)
    assert _parse(r.content) == []
    assert (await client.get("/export/leads.csv?minFit=7", headers=auth)).status_code == 400
    # A time that exists in its own zone but not in UTC (year 1, east of Greenwich).
    early = await client.get("/export/leads.csv", headers=auth,
                             params={"updatedAfter": "0001-01-01T00:00:00+05:00"})
    assert (early.status_code, early.json()["error"]) == (400, "bad filter: updatedAfter is out of range")
    assert (await client.get("/export/leads.csv")).status_code == 401
    admin = {"Authorization": f"Bearer {settings.admin_api_key}"}
    assert (await client.get("/export/leads.csv", headers=admin)).status_code == 403


@pytest.mark.timeout(300)
async def test_a_hundred_thousand_leads_stream_in_bounded_memory(live, runtime, test_env):
    db = test_env["DATABASE_URL"]
    world = await make_world(runtime)
    await db_rows(db, SEED, world.tenant_id, world.channel_id, 100_000)
    # What a database that has seen this many rows has: statistics, not the last test's.
    await db_rows(db, "ANALYZE leads, conversations, contacts")
    lines = 0
    size = 0

    async def download() -> None:
        nonlocal lines, size
        async with httpx.AsyncClient(timeout=120) as http, http.stream(
            "GET", f"{live.url}/export/leads.csv",
            headers={"Authorization": f"Bearer {world.api_key}"},
        ) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)

    tracemalloc.start()
    try:
        try:
            await asyncio.wait_for(download(), timeout=EXPORT_WAIT_S)
        except TimeoutError:
            # Seconds on an idle machine: say what the database was doing meanwhile.
            busy = await db_rows(db, "SELECT state, wait_event_type, wait_event, "
                                     "now() - query_start AS running, left(query, 120) AS query "
                                     "FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()")
            pytest.fail(f"the export stalled after {lines} lines; sessions: "
                        f"{[dict(r) for r in busy]}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 100_001
    # The file is over 10 MB; the server (same process) never held more than a few chunks.
    assert size > 10_000_000
    assert peak < size / 4, (peak, size)
