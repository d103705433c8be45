"""Authentication, document limits, page size, rate limit, error masking, production mode."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from app.graphql import ratelimit
from app.graphql.ratelimit import RATE_WINDOW_S
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import in_one_window


async def test_missing_bad_or_malformed_keys_are_unauthenticated(client, world):
    for key in (None, "mca_not_a_real_key"):
        body = await gql(client, "{ viewer { id } }", key=key)
        assert codes(body) == ["UNAUTHENTICATED"] and body["data"] is None
    r = await client.post("/graphql", json={"query": "{ viewer { id } }"},
                          headers={"Authorization": f"Token {world.api_key}"})
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Bearer" in r.json()["errors"][0]["message"]


def nested(depth: int) -> str:
    # conversation -> channel -> agent -> channel -> agent ... one level per field.
    inner = "id"
    for i in range(depth - 1):
        inner = f"{'agent' if i % 2 == 0 else 'channel'} {{ {inner} }}"
    return f'{{ channel(id: "00000000-0000-0000-0000-000000000000") {{ {inner} }} }}'


async def test_depth_20_is_refused_and_depth_10_is_not(client, world):
    body = await gql(client, nested(20), key=world.api_key)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds maximum operation depth of 10" in body["errors"][0]["message"]
    body = await gql(client, nested(10), key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]  # executed: the id is just unknown
    assert ok(await gql(client, "{ viewer { name } }", key=world.api_key))


async def test_thousand_aliases_and_thirty_one_aliases_are_refused(client, world):
    many = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(1000)) + " }"
    body = await gql(client, many, key=world.api_key)
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"] and "tokens" in body["errors"][0]["message"]
    some = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    body = await gql(client, some, key=world.api_key)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "31 aliases found. Allowed: 30" in body["errors"][0]["message"]
    assert ok(await gql(client, "{ viewer { name } }", key=world.api_key))


@pytest.mark.parametrize("field", ["conversations", "creditLedger", "leads"])
async def test_page_size_is_at_most_100(client, world, field):
    body = await gql(client, f"{{ {field}(first: 10000) {{ edges {{ cursor }} }} }}", key=world.api_key)
    assert codes(body) == ["VALIDATION"] and "between 1 and 100" in body["errors"][0]["message"]
    ok(await gql(client, f"{{ {field}(first: 100) {{ edges {{ cursor }} }} }}", key=world.api_key))


async def test_rate_limit_per_tenant_answers_rate_limited(client, rt, world, other, monkeypatch):
    monkeypatch.setattr(rt.settings, "graphql_rate_per_minute", 3)

    async def burst(_: int) -> None:
        for _ in range(3):
            ok(await gql(client, "{ viewer { id } }", key=world.api_key))
        body = await gql(client, "{ viewer { id } }", key=world.api_key)
        assert codes(body) == ["RATE_LIMITED"] and body["_status"] == 429
        assert body["errors"][0]["extensions"]["retryAfter"] >= 1
        # Another tenant has its own budget.
        ok(await gql(client, "{ viewer { id } }", key=other.api_key))

    await in_one_window(burst, RATE_WINDOW_S)


async def test_each_counted_operation_lands_in_its_windows_key_which_expires(rt):
    async def burst(_attempt: int) -> tuple[str, list[int]]:
        identity = f"t:{uuid.uuid4()}"  # a budget of its own, fresh on every attempt
        counts = [(await ratelimit.hit(rt.redis, identity))[0] for _ in range(3)]
        return ratelimit.rate_key(identity, int(time.time() // RATE_WINDOW_S)), counts

    key, counts = await in_one_window(burst, RATE_WINDOW_S)
    assert counts == [1, 2, 3]
    assert int(await rt.redis.get(key)) == 3
    # The key outlives its window, by at most one more: no counter is left forever.
    assert 0 < await rt.redis.ttl(key) <= 2 * RATE_WINDOW_S


async def test_internal_errors_are_masked_and_logged(client, world, monkeypatch, caplog):
    from app.channels import repository

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(repository, "list_channels", broken)
    body = await gql(client, "{ channels { id } }", key=world.api_key)
    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert body["errors"][0]["message"] == "Internal server error."
    assert "hunter2" not in str(body)
    assert "hunter2" in caplog.text  # the server log keeps the original


async def test_expected_errors_are_not_logged_as_errors(client, world, caplog):
    body = await gql(client, 'query { channel(id: "nope") { id } }', key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_get_runs_queries_only_and_graphiql_is_served_in_development(client, world):
    headers = {"Authorization": f"Bearer {world.api_key}"}
    r = await client.get("/graphql", params={"query": "{ viewer { name } }"}, headers=headers)
    assert r.status_code == 200 and r.json()["data"]["viewer"]["name"] == "Acme"
    r = await client.get("/graphql", params={"query": 'mutation { createApiKey(name: "x") { key } }'},
                         headers=headers)
    assert r.status_code in (400, 405)
    r = await client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


async def test_production_hides_the_schema_and_graphiql(settings, world):
    from app.main import create_app

    # The test environment's secrets are short: production's start-up checks are not the point.
    prod = settings.model_copy(update={"app_env": "production"})
    application = create_app(prod)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = await gql(c, "{ __schema { types { name } } }", key=world.api_key)
            assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
            assert "introspection has been disabled" in body["errors"][0]["message"]
            r = await c.get("/graphql", headers={"Accept": "text/html"})
            assert r.status_code == 404
            assert ok(await gql(c, "{ viewer { name } }", key=world.api_key))["viewer"]["name"] == "Acme"


async def test_development_allows_introspection(client, world):
    body = ok(await gql(client, "{ __schema { queryType { name } } }", key=world.api_key))
    assert body["__schema"]["queryType"]["name"] == "Query"
