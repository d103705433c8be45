"""The leads filter's score and date ranges, and the credit ledger's kind and date filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.db import transaction
from app.models import CreditLedgerEntry, Lead
from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok, seed_conversation

LEADS = """query Leads($f: LeadFilter) { leads(first: 50, filter: $f) {
  edges { node { name } } } }"""
LEDGER = """query Ledger($f: CreditLedgerFilter, $first: Int, $after: String) {
  creditLedger(first: $first, after: $after, filter: $f) {
    edges { node { kind reason } } pageInfo { hasNextPage endCursor } } }"""
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _at(days: int) -> str:
    return (T0 + timedelta(days=days)).isoformat()


async def _leads(rt: Any, world: Any) -> None:
    """Lead i: urgency, budget, fit, engagement from its digits, stored on day i."""
    scores = {"a": (1, 1, 1, 1), "b": (2, 3, 2, 1), "c": (3, 2, 3, 3), "d": (3, 3, 1, 2)}
    async with transaction(rt.sessions) as s:
        for day, (name, (urgency, budget, fit, engagement)) in enumerate(scores.items()):
            conv = await seed_conversation(rt, world, name=name)
            s.add(Lead(id=uuid.uuid4(), tenant_id=world.tenant_id, conversation_id=conv,
                       name=name, urgency=urgency, budget=budget, fit=fit,
                       engagement=engagement, from_seq=1, to_seq=1, model="gpt-4.1-mini",
                       created_at=T0 + timedelta(days=day)))


async def _names(client: Any, key: str, f: dict[str, Any]) -> list[str]:
    data = ok(await gql(client, LEADS, {"f": f}, key=key))
    return [e["node"]["name"] for e in data["leads"]["edges"]]


async def test_leads_filter_by_score_ranges_and_dates(client, rt, world):
    await _leads(rt, world)
    key = world.api_key
    assert await _names(client, key, {}) == ["d", "c", "b", "a"]
    assert await _names(client, key, {"minFit": 2, "maxFit": 2}) == ["b"]
    assert await _names(client, key, {"maxUrgency": 2}) == ["b", "a"]
    assert await _names(client, key, {"minBudget": 3}) == ["d", "b"]
    assert await _names(client, key, {"maxBudget": 2}) == ["c", "a"]
    assert await _names(client, key, {"minEngagement": 2, "maxEngagement": 2}) == ["d"]
    assert await _names(client, key, {"minEngagement": 2}) == ["d", "c"]
    assert await _names(client, key, {"updatedAfter": _at(0), "updatedBefore": _at(3)}) == [
        "c", "b"]
    assert await _names(client, key, {"updatedBefore": _at(1)}) == ["a"]
    # Combined with the filters that were there before.
    assert await _names(client, key, {"minUrgency": 3, "maxFit": 1}) == ["d"]


@pytest.mark.parametrize(("f", "message"), [
    ({"maxFit": 4}, "filter.maxFit must be 1, 2 or 3"),
    ({"minBudget": 0}, "filter.minBudget must be 1, 2 or 3"),
    ({"maxEngagement": -1}, "filter.maxEngagement must be 1, 2 or 3"),
    ({"minUrgency": 3, "maxUrgency": 1}, "filter.minUrgency must not be above filter.maxUrgency"),
    ({"updatedBefore": "2026-11-02T00:00:00"}, "filter.updatedBefore needs a time zone"),
    ({"updatedAfter": _at(2), "updatedBefore": _at(1)},
     "filter.updatedBefore must be later than filter.updatedAfter"),
])
async def test_a_bad_leads_filter_is_refused(client, world, f, message):
    body = await gql(client, LEADS, {"f": f}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["message"] == message


async def _ledger(rt: Any, world: Any) -> None:
    entries = [("reserve", "reply 1", 1), ("release", "not sent", 2), ("reserve", "reply 2", 3),
               ("grant", "top-up", 4)]
    async with transaction(rt.sessions) as s:
        for kind, reason, day in entries:
            s.add(CreditLedgerEntry(
                id=uuid.uuid4(), tenant_id=world.tenant_id, delta=0, kind=kind, reason=reason,
                idempotency_key=f"test:{uuid.uuid4()}", balance_after=100,
                created_at=T0 + timedelta(days=day)))


async def _reasons(client: Any, key: str, f: dict[str, Any] | None, **extra: Any) -> list[str]:
    data = ok(await gql(client, LEDGER, {"f": f, **extra}, key=key))
    return [e["node"]["reason"] for e in data["creditLedger"]["edges"]]


async def test_the_ledger_filters_by_kind_and_dates(client, rt, world):
    await _ledger(rt, world)
    other = await make_world(rt, name="Other")
    await _ledger(rt, other)
    key = world.api_key
    # The initial grant was stored now, after every dated entry.
    assert await _reasons(client, key, None) == [
        "initial credits", "top-up", "reply 2", "not sent", "reply 1"]
    assert await _reasons(client, key, {"kinds": ["RESERVE"]}) == ["reply 2", "reply 1"]
    assert await _reasons(client, key, {"kinds": ["GRANT", "RELEASE"]}) == [
        "initial credits", "top-up", "not sent"]
    assert await _reasons(client, key, {"createdAfter": _at(1), "createdBefore": _at(4)}) == [
        "reply 2", "not sent"]
    assert await _reasons(client, key, {"kinds": ["RESERVE"], "createdBefore": _at(2)}) == [
        "reply 1"]
    # Pages keep the filter.
    first = ok(await gql(client, LEDGER, {"f": {"kinds": ["RESERVE", "RELEASE"]}, "first": 2},
                         key=key))["creditLedger"]
    assert [e["node"]["reason"] for e in first["edges"]] == ["reply 2", "not sent"]
    assert await _reasons(client, key, {"kinds": ["RESERVE", "RELEASE"]}, first=2,
                          after=first["pageInfo"]["endCursor"]) == ["reply 1"]


@pytest.mark.parametrize("f", [
    {"kinds": ["OTHER"]},
    {"kinds": []},
    {"createdAfter": "2026-11-02T00:00:00"},
    {"createdAfter": _at(3), "createdBefore": _at(3)},
])
async def test_a_bad_ledger_filter_is_refused(client, world, f):
    body = await gql(client, LEDGER, {"f": f}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["_status"] == 200


async def test_the_csv_export_takes_the_same_ranges(client, rt, world):
    await _leads(rt, world)
    auth = {"Authorization": f"Bearer {world.api_key}"}
    r = await client.get("/export/leads.csv", headers=auth, params={
        "minBudget": "2", "maxEngagement": "2", "updatedBefore": _at(3)})
    assert r.status_code == 200, r.text
    assert [line.split(",")[5] for line in r.text.strip().splitlines()[1:]] == ["b"]
    r = await client.get("/export/leads.csv", headers=auth, params={"maxFit": "9"})
    assert r.status_code == 400 and "maxFit must be 1, 2 or 3" in r.text


async def test_the_csv_export_names_the_contact_as_the_team_does(client, rt, world):
    await _leads(rt, world)
    auth = {"Authorization": f"Bearer {world.api_key}"}
    data = ok(await gql(client, "query C { contacts(search: \"b\") { edges { node { id } } } }",
                        key=world.api_key))
    [edge] = data["contacts"]["edges"]
    ok(await gql(client, """mutation N($id: ID!) { updateContact(id: $id, input: {name: "Berta"})
                 { id } }""", {"id": edge["node"]["id"]}, key=world.api_key))
    r = await client.get("/export/leads.csv", headers=auth, params={"minBudget": "3"})
    rows = {line.split(",")[5]: line.split(",")[4] for line in r.text.strip().splitlines()[1:]}
    assert rows == {"b": "Berta", "d": "d"}


async def test_a_time_that_exists_only_in_its_own_zone_is_refused(client, world):
    # Year 1 east of Greenwich is before year 1 in UTC: no timestamptz holds it.
    body = await gql(client, LEDGER, {"f": {"createdAfter": "0001-01-01T00:00:00+05:00"}},
                     key=world.api_key)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert "DateTime out of range" in body["errors"][0]["message"]
