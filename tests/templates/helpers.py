"""A WhatsApp channel with a business account and templates at the fake Graph server."""

from __future__ import annotations

from typing import Any

from tests.factories import World
from tests.graphql.helpers import gql, ok

WABA = "102290129340398"

ORDER_UPDATE: dict[str, Any] = {
    "id": "9001", "name": "order_update", "language": "en_US", "status": "APPROVED",
    "category": "UTILITY", "parameter_format": "POSITIONAL",
    "components": [
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.",
         "example": {"body_text": [["Ana", "A-1"]]}},
        {"type": "FOOTER", "text": "Acme"},
    ],
}
WELCOME: dict[str, Any] = {
    "id": "9002", "name": "welcome", "language": "es", "status": "APPROVED",
    "category": "MARKETING", "components": [{"type": "BODY", "text": "¡Hola! ¿Seguimos?"}],
}


def template(name: str, status: str = "APPROVED", language: str = "en_US") -> dict[str, Any]:
    return {"id": f"t-{name}", "name": name, "language": language, "status": status,
            "category": "UTILITY", "components": [{"type": "BODY", "text": f"{name} {{{{1}}}}"}]}


SET_WABA = """mutation($id: ID!, $w: String!) {
  updateChannel(id: $id, input: {businessAccountId: $w}) { id businessAccountId }
}"""


async def connect_waba(client: Any, graph: Any, world: World,
                       templates: list[dict[str, Any]] | None = None) -> None:
    await graph.waba(WABA, world.token, [world.account_id],
                     [ORDER_UPDATE, WELCOME] if templates is None else templates)
    body = await gql(client, SET_WABA, {"id": str(world.channel_id), "w": WABA}, key=world.api_key)
    assert ok(body)["updateChannel"]["businessAccountId"] == WABA
