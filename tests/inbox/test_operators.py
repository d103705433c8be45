"""Operators as people: created by the tenant's machine key or an admin operator, each with a
key of their own that names them; machine keys keep working and are told what needs a person."""

from __future__ import annotations

from tests.graphql.helpers import add_outbound, codes, gql, ok, seed_conversation
from tests.inbox.helpers import CREATE_OPERATOR, make_operator

ME = "{ me { id name email role } operators { id name } }"


async def test_an_operator_key_names_the_operator_and_a_machine_key_names_nobody(
    client, rt, world
):
    ana = await make_operator(client, world.api_key, "Ana", role="ADMIN", email=" Ana@Example.COM ")
    assert ana.key.startswith("mca_") and ana.key != world.api_key
    me = ok(await gql(client, ME, key=ana.key))
    assert me["me"] == {"id": ana.id, "name": "Ana", "email": "ana@example.com", "role": "ADMIN"}
    machine = ok(await gql(client, ME, key=world.api_key))
    assert machine["me"] is None
    assert machine["operators"] == [{"id": ana.id, "name": "Ana"}]
    # The operator's key is one of the tenant's keys (listed, revocable) and works for
    # everything a tenant key does.
    keys = ok(await gql(client, "{ apiKeys { id name } }", key=ana.key))["apiKeys"]
    assert "operator ana@example.com" in {k["name"] for k in keys}


async def test_who_may_create_operators(client, rt, world, other):
    admin = await make_operator(client, world.api_key, "Ana", role="ADMIN")
    agent = await make_operator(client, admin.key, "Luis")  # an admin operator may
    refused = await gql(client, CREATE_OPERATOR, {"n": "Eve", "e": "eve@example.com"},
                        key=agent.key)
    assert codes(refused) == ["FORBIDDEN"] and "admin operator" in refused["errors"][0]["message"]
    assert codes(await gql(client, CREATE_OPERATOR, {"n": "Ana 2", "e": "ANA@example.com"},
                           key=world.api_key)) == ["CONFLICT"]
    # Another tenant may use the same address: operators belong to one tenant.
    theirs = await make_operator(client, other.api_key, "Ana", email="ana@example.com")
    assert theirs.id != admin.id
    for bad in ({"n": "X", "e": "not-an-address"}, {"n": "X", "e": "a b@example.com"},
                {"n": "x" * 201, "e": "x@example.com"}):
        assert codes(await gql(client, CREATE_OPERATOR, bad, key=world.api_key)) == [
            "BAD_USER_INPUT"], bad
    assert codes(await gql(client, CREATE_OPERATOR, {"n": "  ", "e": "y@example.com"},
                           key=world.api_key)) == ["VALIDATION"]
    names = ok(await gql(client, ME, key=world.api_key))["operators"]
    assert [n["name"] for n in names] == ["Ana", "Luis"]


async def test_another_key_for_an_operator_and_revoking_it(client, rt, world, other):
    luis = await make_operator(client, world.api_key, "Luis")
    made = ok(await gql(client, """mutation($o: ID!) { createOperatorApiKey(operatorId: $o) {
        apiKey { id } key } }""", {"o": luis.id}, key=world.api_key))["createOperatorApiKey"]
    assert ok(await gql(client, ME, key=made["key"]))["me"]["id"] == luis.id
    ok(await gql(client, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
                 {"id": made["apiKey"]["id"]}, key=world.api_key))
    assert codes(await gql(client, "{ me { id } }", key=made["key"])) == ["UNAUTHENTICATED"]
    assert ok(await gql(client, ME, key=luis.key))["me"]["id"] == luis.id  # the first still works
    # Another tenant's operator is not found.
    assert codes(await gql(client, """mutation($o: ID!) { createOperatorApiKey(operatorId: $o) {
        key } }""", {"o": luis.id}, key=other.api_key)) == ["NOT_FOUND"]


async def test_operator_messages_say_who_sent_them_and_take_the_conversation(client, rt, world):
    luis = await make_operator(client, world.api_key, "Luis")
    conv = await seed_conversation(rt, world)
    sent = ok(await gql(client, """mutation($c: ID!) { sendOperatorMessage(conversationId: $c,
        text: "Hola") { id senderRole operator { id name } } }""", {"c": str(conv)},
        key=luis.key))["sendOperatorMessage"]
    assert sent["senderRole"] == "OPERATOR" and sent["operator"] == {"id": luis.id, "name": "Luis"}
    await add_outbound(rt, world.tenant_id, conv, text="from a machine", role="operator")
    thread = ok(await gql(client, """query($c: ID!) { conversation(id: $c) { assignee { name }
        messages(last: 10) { totalCount edges { node { text operator { name } } } } } }""",
        {"c": str(conv)}, key=world.api_key))["conversation"]
    # The unassigned conversation became the writer's.
    assert thread["assignee"] == {"name": "Luis"}
    assert thread["messages"]["totalCount"] == 3
    assert [(e["node"]["text"], e["node"]["operator"]) for e in thread["messages"]["edges"]] == [
        ("hello", None), ("Hola", {"name": "Luis"}), ("from a machine", None)]


DEACTIVATE = "mutation($o: ID!) { deactivateOperator(id: $o) { id deactivatedAt } }"


async def test_an_operator_who_leaves_is_deactivated(client, rt, world, other):
    ana = await make_operator(client, world.api_key, "Ana", role="ADMIN")
    luis = await make_operator(client, world.api_key, "Luis")
    conv = await seed_conversation(rt, world)
    ok(await gql(client, """mutation($c: ID!) { sendOperatorMessage(conversationId: $c,
        text: "Luis here") { id } }""", {"c": str(conv)}, key=luis.key))
    assert codes(await gql(client, DEACTIVATE, {"o": ana.id}, key=luis.key)) == ["FORBIDDEN"]
    assert codes(await gql(client, DEACTIVATE, {"o": luis.id}, key=other.api_key)) == [
        "NOT_FOUND"]

    pubsub = rt.redis.pubsub()
    await pubsub.subscribe(f"mca:events:{world.tenant_id}")
    await pubsub.get_message(timeout=1)
    gone = ok(await gql(client, DEACTIVATE, {"o": luis.id}, key=ana.key))["deactivateOperator"]
    assert gone["deactivatedAt"]
    event = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert event is not None and b'"assignee"' in event["data"] and luis.id.encode() not in event[
        "data"]

    assert codes(await gql(client, "{ me { id } }", key=luis.key)) == ["UNAUTHENTICATED"]
    thread = ok(await gql(client, """query($c: ID!) { conversation(id: $c) { assignee { id }
        messages(last: 5) { edges { node { operator { name deactivatedAt } } } } } }""",
        {"c": str(conv)}, key=ana.key))["conversation"]
    assert thread["assignee"] is None
    assert thread["messages"]["edges"][-1]["node"]["operator"]["name"] == "Luis"
    assert codes(await gql(client, "mutation($c: ID!, $o: ID) { assignConversation(id: $c, "
                           "operatorId: $o) { id } }", {"c": str(conv), "o": luis.id},
                           key=ana.key)) == ["VALIDATION"]
    assert codes(await gql(client, """mutation($o: ID!) { createOperatorApiKey(operatorId: $o) {
        key } }""", {"o": luis.id}, key=ana.key)) == ["VALIDATION"]
    # Again: nothing more happens.
    again = ok(await gql(client, DEACTIVATE, {"o": luis.id}, key=world.api_key))
    assert again["deactivateOperator"]["deactivatedAt"] == gone["deactivatedAt"]
