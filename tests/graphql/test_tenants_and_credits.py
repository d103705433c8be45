"""viewer, apiKeys, createApiKey, revokeApiKey, createTenant, grantCredits, creditLedger."""

from __future__ import annotations

from tests.graphql.helpers import codes, gql, ok

ADMIN = "test-admin-key-0000"


async def test_viewer_is_the_keys_tenant(client, world, other):
    body = await gql(client, "{ viewer { id name creditBalance } }", key=world.api_key)
    assert ok(body)["viewer"] == {"id": str(world.tenant_id), "name": "Acme", "creditBalance": 100}
    body = await gql(client, "{ viewer { id name } }", key=other.api_key)
    assert ok(body)["viewer"]["name"] == "Intruder"


async def test_api_key_is_shown_once_works_and_stops_working_when_revoked(client, world):
    created = ok(await gql(
        client, 'mutation { createApiKey(name: "ci") { key apiKey { id name prefix revokedAt } } }',
        key=world.api_key))["createApiKey"]
    new_key = created["key"]
    assert new_key.startswith("mca_") and new_key.startswith(created["apiKey"]["prefix"])
    assert created["apiKey"]["revokedAt"] is None
    assert ok(await gql(client, "{ viewer { name } }", key=new_key))["viewer"]["name"] == "Acme"

    keys = ok(await gql(client, "{ apiKeys { id name prefix } }", key=world.api_key))["apiKeys"]
    assert {k["name"] for k in keys} == {"initial", "ci"}
    assert new_key not in str(keys)

    revoked = ok(await gql(client, "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }",
                           {"id": created["apiKey"]["id"]}, key=world.api_key))["revokeApiKey"]
    assert revoked["revokedAt"] is not None
    body = await gql(client, "{ viewer { name } }", key=new_key)
    assert codes(body) == ["UNAUTHENTICATED"] and body["data"] is None
    # The key that revoked it still works.
    assert ok(await gql(client, "{ viewer { name } }", key=world.api_key))


async def test_admin_creates_a_tenant_whose_key_works(client, rt):
    body = ok(await gql(
        client, """mutation { createTenant(name: "Nova", initialCredits: 25) {
          apiKey tenant { id name creditBalance } } }""",
        key=ADMIN,
    ))["createTenant"]
    assert body["tenant"]["name"] == "Nova" and body["tenant"]["creditBalance"] == 25
    viewer = ok(await gql(client, "{ viewer { id creditBalance } }", key=body["apiKey"]))["viewer"]
    assert viewer == {"id": body["tenant"]["id"], "creditBalance": 25}


async def test_admin_operations_need_the_admin_key_and_tenant_ones_a_tenant_key(client, world):
    body = await gql(client, 'mutation { createTenant(name: "X") { apiKey } }', key=world.api_key)
    assert codes(body) == ["FORBIDDEN"]
    body = await gql(client, "{ viewer { id } }", key=ADMIN)
    assert codes(body) == ["FORBIDDEN"]
    body = await gql(client, 'mutation { createTenant(name: "  ") { apiKey } }', key=ADMIN)
    assert codes(body) == ["VALIDATION"]


GRANT = """mutation($t: ID!, $a: Int!, $k: String) {
  grantCredits(tenantId: $t, amount: $a, reason: "top-up", idempotencyKey: $k) { id creditBalance }
}"""


async def test_grant_credits_is_admin_only_validated_and_idempotent_with_a_key(client, world):
    t = str(world.tenant_id)
    assert codes(await gql(client, GRANT, {"t": t, "a": 5}, key=world.api_key)) == ["FORBIDDEN"]
    assert codes(await gql(client, GRANT, {"t": t, "a": 0}, key=ADMIN)) == ["VALIDATION"]
    assert codes(await gql(client, GRANT, {"t": t, "a": 2_000_000_000}, key=ADMIN)) == ["VALIDATION"]
    missing = "00000000-0000-0000-0000-000000000000"
    assert codes(await gql(client, GRANT, {"t": missing, "a": 5}, key=ADMIN)) == ["NOT_FOUND"]
    assert codes(await gql(client, GRANT, {"t": "nope", "a": 5}, key=ADMIN)) == ["NOT_FOUND"]

    first = ok(await gql(client, GRANT, {"t": t, "a": 50, "k": "invoice-7"}, key=ADMIN))
    again = ok(await gql(client, GRANT, {"t": t, "a": 50, "k": "invoice-7"}, key=ADMIN))
    assert first["grantCredits"]["creditBalance"] == 150
    assert again["grantCredits"]["creditBalance"] == 150
    viewer = ok(await gql(client, "{ viewer { creditBalance } }", key=world.api_key))["viewer"]
    assert viewer["creditBalance"] == 150


LEDGER = """query($first: Int, $after: String) {
  creditLedger(first: $first, after: $after) {
    edges { cursor node { delta kind reason balanceAfter } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""


async def test_credit_ledger_pages_newest_first(client, world):
    for amount in (1, 2, 3, 4):
        ok(await gql(client, GRANT, {"t": str(world.tenant_id), "a": amount}, key=ADMIN))
    page = ok(await gql(client, LEDGER, {"first": 3}, key=world.api_key))["creditLedger"]
    assert [e["node"]["delta"] for e in page["edges"]] == [4, 3, 2]
    assert page["pageInfo"]["hasNextPage"] is True and page["pageInfo"]["hasPreviousPage"] is False
    rest = ok(await gql(client, LEDGER, {"first": 3, "after": page["pageInfo"]["endCursor"]},
                        key=world.api_key))["creditLedger"]
    assert [e["node"]["delta"] for e in rest["edges"]] == [1, 100]
    assert rest["edges"][-1]["node"] == {"delta": 100, "kind": "GRANT", "reason": "initial credits",
                                         "balanceAfter": 100}
    assert rest["pageInfo"]["hasNextPage"] is False and rest["pageInfo"]["hasPreviousPage"] is True
    body = await gql(client, LEDGER, {"first": 3, "after": "garbage"}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"]
