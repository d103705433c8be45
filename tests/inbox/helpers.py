"""Helpers for the team inbox tests: operators made through the API, conversations seeded as
the pipeline stores them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.graphql.helpers import gql, ok

CREATE_OPERATOR = """mutation($n: String!, $e: String!, $r: OperatorRole) {
  createOperator(name: $n, email: $e, role: $r) {
    operator { id name email role } apiKey { id prefix } key
  }
}"""


@dataclass
class Op:
    id: str
    name: str
    key: str


async def make_operator(
    client: httpx.AsyncClient, tenant_key: str, name: str, *, role: str = "AGENT",
    email: str | None = None,
) -> Op:
    data = ok(await gql(client, CREATE_OPERATOR, {
        "n": name, "e": email or f"{name.lower()}@example.com", "r": role}, key=tenant_key))
    made = data["createOperator"]
    return Op(made["operator"]["id"], made["operator"]["name"], made["key"])


async def page(
    client: httpx.AsyncClient, key: str, fields: str = "id", **args: Any
) -> dict[str, Any]:
    """conversations(...) with these variables; returns the connection."""
    query = """query($first: Int, $after: String, $filter: ConversationFilter,
                     $orderBy: ConversationOrder) {
      conversations(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
        totalCount edges { cursor node { FIELDS } } pageInfo { hasNextPage endCursor } }
    }""".replace("FIELDS", fields)
    variables = {"orderBy": "LAST_ACTIVITY", **args}
    result: dict[str, Any] = ok(await gql(client, query, variables, key=key))["conversations"]
    return result


def ids(conn: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in conn["edges"]]
