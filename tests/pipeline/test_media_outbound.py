"""An operator sends an image or a document from the dashboard: uploaded to the API, then
sendOperatorMessage(attachments); WhatsApp gets it uploaded to /{phone_number_id}/media and
sent by id, web chat shows it through a signed link."""

from __future__ import annotations

import uuid

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows, png, wait_for
from tests.meta import ig_webhook, signed, wa_message, wa_webhook
from tests.widget.helpers import ORIGIN, Visitor

SEND = """
mutation($c: ID!, $t: String!, $a: [ID!]) {
  sendOperatorMessage(conversationId: $c, text: $t, attachments: $a) {
    id type text status attachments { kind mimeType fileName size url }
  }
}
"""


async def _upload(client, key: str, conversation_id: str, data: bytes, mime: str,
                  name: str | None = None):
    params = {"conversationId": conversation_id, **({"fileName": name} if name else {})}
    return await client.post("/media/uploads", params=params, content=data,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": mime})


async def _customer_wrote(client, graph, world, test_env) -> str:
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("send me the catalogue")]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE status = 'sent'"))
    return str((await db_rows(db, "SELECT conversation_id FROM messages LIMIT 1"))[0][0])


async def test_operator_sends_an_image_and_a_document_on_whatsapp(
    client, runtime, worker, graph, test_env
):
    world = await make_world(runtime, token="EAA-operator-media")
    cid = await _customer_wrote(client, graph, world, test_env)
    image = png()
    r = await _upload(client, world.api_key, cid, image, "image/png", "lamp.png")
    assert r.status_code == 201, r.text
    up = r.json()
    assert (up["kind"], up["mimeType"], up["size"]) == ("image", "image/png", len(image))
    doc = (await _upload(client, world.api_key, cid, b"%PDF-1.4 catalogue", "application/pdf",
                         "catalogue.pdf")).json()

    sent = ok(await gql(client, SEND, {"c": cid, "t": "here it is", "a": [up["id"], doc["id"]]},
                        key=world.api_key))["sendOperatorMessage"]
    assert (sent["type"], sent["text"], sent["status"]) == ("IMAGE", "here it is", "PENDING")
    assert [a["fileName"] for a in sent["attachments"]] == ["lamp.png", "catalogue.pdf"]

    async def media_sends():
        found = [r for r in await graph.requests(account_id=world.account_id, kind="send")
                 if r["json"].get("type") in ("image", "document")]
        return found if len(found) == 2 else None

    img_send, doc_send = await wait_for(media_sends)
    uploads = [e for e in await graph.media_log() if e["op"] == "upload"]
    assert [(u["account_id"], u["mime_type"], u["size"], u["file_name"], u["authorization"])
            for u in uploads] == [
        (world.account_id, "image/png", len(image), "lamp.png", "Bearer EAA-operator-media"),
        (world.account_id, "application/pdf", 18, "catalogue.pdf", "Bearer EAA-operator-media")]
    assert img_send["json"]["image"] == {"id": uploads[0]["media_id"], "caption": "here it is"}
    assert doc_send["json"]["document"] == {"id": uploads[1]["media_id"],
                                            "filename": "catalogue.pdf"}
    assert img_send["json"]["to"] == "+5215512345678"
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE sender_role = 'operator' "
                                       "AND status = 'sent'"))
    # The same upload cannot be sent twice.
    again = await gql(client, SEND, {"c": cid, "t": "", "a": [up["id"]]}, key=world.api_key)
    assert codes(again) == ["NOT_FOUND"]


async def test_uploads_and_sends_are_checked_and_tenant_scoped(
    client, runtime, graph, test_env
):
    world = await make_world(runtime, token="EAA-operator-media")
    intruder = await make_world(runtime, name="Intruder")
    raw, headers = signed(wa_webhook(world.account_id, [wa_message("hola")]))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    db = test_env["DATABASE_URL"]
    cid = str((await db_rows(db, "SELECT id FROM conversations"))[0]["id"])
    assert (await client.post("/media/uploads", params={"conversationId": cid}, content=png(),
                              headers={"Content-Type": "image/png"})).status_code == 401
    r = await _upload(client, world.api_key, cid, b"GIF89a", "image/gif")
    assert r.status_code == 415 and r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert (await _upload(client, world.api_key, cid, b"not a png", "image/png")).status_code == 422
    assert (await _upload(client, world.api_key, "nope", png(), "image/png")).status_code == 400
    big = b"\xff\xd8\xff" + b"x" * (5 * 1024 * 1024)
    assert (await _upload(client, world.api_key, cid, big, "image/jpeg")).status_code == 413
    # Another tenant's conversation: not found, nothing kept.
    r = await _upload(client, intruder.api_key, cid, png(), "image/png")
    assert r.status_code == 404
    assert await db_rows(db, "SELECT 1 FROM attachments") == []

    # A name with control characters (NUL included) and path separators is kept without them.
    odd = await client.post(
        "/media/uploads", params={"conversationId": cid, "fileName": "a\x00b/c\\d\n.png"},
        content=png(), headers={"Content-Type": "image/png",
                                "Authorization": f"Bearer {world.api_key}"})
    assert (odd.status_code, odd.json()["fileName"]) == (201, "ab_c_d.png")

    mine = (await _upload(client, world.api_key, cid, png(), "image/png")).json()
    body = await gql(client, SEND, {"c": cid, "t": "x", "a": [str(uuid.uuid4())]},
                     key=world.api_key)
    assert codes(body) == ["NOT_FOUND"]
    body = await gql(client, SEND, {"c": cid, "t": "x", "a": [mine["id"]]},
                     key=intruder.api_key)
    assert codes(body) == ["NOT_FOUND"]
    body = await gql(client, SEND, {"c": cid, "t": "", "a": []}, key=world.api_key)
    assert codes(body) == ["VALIDATION"]
    assert await db_rows(db, "SELECT 1 FROM messages WHERE sender_role = 'operator'") == []


async def test_instagram_refuses_files_before_storing_anything(client, runtime, test_env):
    world = await make_world(runtime, kind="instagram", token="IGQ-op")
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-1", "hola"))
    await client.post("/webhooks/meta", content=raw, headers=headers)
    db = test_env["DATABASE_URL"]
    cid = str((await db_rows(db, "SELECT id FROM conversations"))[0]["id"])
    up = (await _upload(client, world.api_key, cid, png(), "image/png")).json()
    body = await gql(client, SEND, {"c": cid, "t": "look", "a": [up["id"]]}, key=world.api_key)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert await db_rows(db, "SELECT 1 FROM messages WHERE sender_role = 'operator'") == []


async def test_web_chat_visitor_sees_the_operators_image(client, runtime, worker, test_env):
    chat = await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})
    visitor = await Visitor(client, chat.account_id).session()
    assert (await visitor.send("can I see it?")).status_code == 201
    db = test_env["DATABASE_URL"]
    cid = str((await wait_for(lambda: db_rows(db, "SELECT id FROM conversations")))[0]["id"])
    image = png()
    up = (await _upload(client, chat.api_key, cid, image, "image/png", "it.png")).json()
    ok(await gql(client, SEND, {"c": cid, "t": "", "a": [up["id"]]}, key=chat.api_key))

    async def shown():
        msgs = (await visitor.history())["messages"]
        ops = [m for m in msgs if m["senderRole"] == "operator" and m["status"] == "sent"]
        return ops[0] if ops else None

    op = await wait_for(shown)
    (att,) = op["attachments"]
    assert att["kind"] == "image" and att["fileName"] == "it.png"
    assert (await client.get(att["url"])).content == image
