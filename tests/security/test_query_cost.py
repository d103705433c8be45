"""One tenant must not stall every tenant with one expensive document.

The attack: 30 aliases of `conversations(first: 100) { ... messages(first: 100) ... }` ran for
6.8 s and slowed every other tenant's requests. The cost of an operation is now computed from
its document before it runs (app/graphql/cost.py) and anything over GRAPHQL_MAX_COST is refused
with QUERY_TOO_COMPLEX, the computed cost in `extensions`.
"""

from __future__ import annotations

import re
import time

from graphql import OperationDefinitionNode, parse

from app.graphql.cost import operation_cost
from app.graphql.schema import schema
from tests.graphql.helpers import codes, gql, ok, seed_conversation, ws_session
from tests.helpers import ROOT

SCHEMA = schema._schema
PAGE = "edges { node { id text status direction createdAt } }"
UNIT = f"conversations(first: 100) {{ edges {{ node {{ id messages(first: 100) {{ {PAGE} }} }} }} }}"
ATTACK = "{ " + " ".join(f"a{i}: {UNIT}" for i in range(30)) + " }"


def cost(query: str, variables: dict[str, object] | None = None, name: str | None = None) -> int:
    return operation_cost(SCHEMA, parse(query), name, variables)


def test_page_sizes_multiply_down_the_selection():
    assert cost("{ viewer { id name } }") == 3
    # 1 (conversations) + 100 x (edges, node, id, messages) + 100 x 100 x (edges, node, id)
    nested = ("{ conversations(first: 100) { edges { node { id "
              "messages(first: 100) { edges { node { id } } } } } } }")
    assert cost(nested) == 1 + 100 * 4 + 100 * 100 * 3
    # No page size given: the default page of 20.
    assert cost("{ conversations { edges { node { id } } } }") == 1 + 20 * 3
    # Sizes past the resolvers' cap of 100 are counted as 100 (the resolver refuses them).
    assert cost("{ conversations(first: 100000) { edges { cursor } } }") == 1 + 100 * 2


def test_fragments_variables_and_unions_are_counted():
    spread = """
      query Q($n: Int = 50) { conversations(first: $n) { ...Page } }
      fragment Page on ConversationConnection { edges { node { ...Conv } } }
      fragment Conv on Conversation { id messages(last: $n) { edges { node { id } } } }
    """
    assert cost(spread, {}, "Q") == 1 + 50 * 4 + 50 * 50 * 3
    assert cost(spread, {"n": 10}, "Q") == 1 + 10 * 4 + 10 * 10 * 3
    inline = "{ conversations(first: 10) { edges { node { ... on Conversation { id mode } } } } }"
    assert cost(inline) == 1 + 10 * 4
    union = """subscription { conversationEvents {
        ... on MessageCreated { cursor message { id } }
        ... on ConversationUpdated { conversationId conversation {
              messages(first: 30) { edges { cursor } } } } } }"""
    assert cost(union) == 1 + 3 + 1 + 1 + 1 + 30 * 2


def documented_operations() -> list[str]:
    """Every GraphQL operation shown in the API documentation (the dashboard's operations)."""
    text = (ROOT / "documentation" / "api" / "graphql.md").read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    found = []
    for block in blocks:
        try:
            doc = parse(block)
        except Exception:  # noqa: S112 - a schema excerpt, not an operation
            continue
        if any(isinstance(d, OperationDefinitionNode) for d in doc.definitions):
            found.append(block)
    return found


def test_every_documented_operation_is_well_within_the_default_limit(settings):
    ops = documented_operations()
    assert len(ops) >= 20
    worst = max(cost(op) for op in ops)
    assert worst * 5 <= settings.graphql_max_cost, worst


async def test_the_thirty_alias_attack_is_refused_before_it_runs(client, rt, world, other):
    for _ in range(3):
        await seed_conversation(rt, world, texts=("hi", "there"))
    started = time.perf_counter()
    body = await gql(client, ATTACK, key=world.api_key)
    elapsed = time.perf_counter() - started
    assert codes(body) == ["QUERY_TOO_COMPLEX"] and body.get("data") is None
    ext = body["errors"][0]["extensions"]
    assert ext["cost"] == cost(ATTACK) and ext["cost"] > ext["maxCost"] == rt.settings.graphql_max_cost
    assert str(ext["cost"]) in body["errors"][0]["message"]
    assert elapsed < 1.0, elapsed
    # A chat list with each conversation's latest messages is fine, and another tenant is
    # served as usual.
    inbox = UNIT.replace("first: 100", "first: 50").replace("messages(first: 50)", "messages(last: 20)")
    assert cost("{ " + inbox + " }") <= rt.settings.graphql_max_cost
    page = ok(await gql(client, "{ " + inbox + " }", key=world.api_key))
    assert len(page["conversations"]["edges"]) == 3
    ok(await gql(client, "{ viewer { id } }", key=other.api_key))


async def test_hiding_the_lists_in_fragments_or_variables_does_not_help(client, world):
    hidden = """
      query Q($n: Int!) { a: conversations(first: $n) { ...P } b: conversations(first: $n) { ...P } }
      fragment P on ConversationConnection { edges { node { messages(first: $n) { ...M } } } }
      fragment M on MessageConnection { edges { node { id text status } } }
    """
    body = await gql(client, hidden, {"n": 100}, key=world.api_key)
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["errors"][0]["extensions"]["cost"] == cost(hidden, {"n": 100}, "Q")
    ok(await gql(client, hidden, {"n": 10}, key=world.api_key))


async def test_the_limit_is_a_setting(client, rt, world):
    rt.settings.graphql_max_cost = 100
    try:
        body = await gql(client, "{ conversations(first: 50) { edges { node { id } } } }",
                         key=world.api_key)
        assert codes(body) == ["QUERY_TOO_COMPLEX"]
        assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 151,
                                                   "maxCost": 100}
        ok(await gql(client, "{ conversations(first: 30) { edges { node { id } } } }",
                     key=world.api_key))
    finally:
        rt.settings.graphql_max_cost = 20_000


async def test_an_expensive_subscription_is_refused_on_the_socket(live, world):
    query = ("subscription { conversationEvents { ... on ConversationUpdated { conversation { "
             + " ".join(f"m{i}: messages(first: 100) {{ {PAGE} }}" for i in range(30)) + " } } } }")
    async with ws_session(live, world.api_key) as ws:
        op = await ws.subscribe(query)
        msg = await ws.next_for(op)
        assert msg["type"] in ("error", "next")
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"

