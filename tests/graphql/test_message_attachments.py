"""Message.attachments and the signed media links: the dashboard sees a customer's photo and
voice note (with its transcript) and fetches the kept bytes through a short-lived link that
only works for that file, until it expires."""

from __future__ import annotations

import time
import uuid

from app.media.links import signature, signed_path
from tests.factories import make_world
from tests.graphql.helpers import gql, ok
from tests.helpers import db_rows, wait_for
from tests.meta import signed, wa_message, wa_webhook

JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 50
QUERY = """
query($id: ID!) { conversation(id: $id) { messages(first: 10) { edges { node {
  type text statusReason reaction
  attachments { id kind mimeType fileName size caption transcript error url }
} } } } }
"""


async def _answered_media(client, runtime, graph, test_env, world) -> str:
    await graph.add_media("M-IMG", JPEG, "image/jpeg")
    await graph.add_media("M-VOICE", b"tiene envio gratis", "audio/ogg")
    await graph.add_media("M-GONE", JPEG, "image/jpeg", expired=True)
    raw, headers = signed(wa_webhook(world.account_id, [
        wa_message("", mtype="image", extra={"image": {"id": "M-IMG", "caption": "this one"}}),
        wa_message("", mtype="audio", extra={"audio": {"id": "M-VOICE", "voice": True,
                                                       "mime_type": "audio/ogg"}}),
        wa_message("", mtype="image", extra={"image": {"id": "M-GONE"}}),
    ]))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    db = test_env["DATABASE_URL"]
    await wait_for(lambda: db_rows(db, "SELECT 1 FROM messages WHERE direction = 'outbound' "
                                       "AND status = 'sent'"))
    rows = await db_rows(db, "SELECT conversation_id FROM messages LIMIT 1")
    return str(rows[0]["conversation_id"])


async def test_attachments_with_transcript_and_a_working_signed_link(
    client, runtime, worker, graph, test_env, settings
):
    world = await make_world(runtime, token="EAA-gql-media")
    cid = await _answered_media(client, runtime, graph, test_env, world)
    data = ok(await gql(client, QUERY, {"id": cid}, key=world.api_key))
    nodes = [e["node"] for e in data["conversation"]["messages"]["edges"]]
    photo, voice, gone, reply = nodes
    assert reply["attachments"] == [] and reply["type"] == "TEXT"
    (img,) = photo["attachments"]
    assert {k: img[k] for k in ("kind", "mimeType", "size", "caption", "transcript", "error")} == {
        "kind": "IMAGE", "mimeType": "image/jpeg", "size": len(JPEG), "caption": "this one",
        "transcript": None, "error": None}
    (audio,) = voice["attachments"]
    assert (audio["kind"], audio["transcript"]) == ("VOICE", "tiene envio gratis")
    (failed,) = gone["attachments"]
    assert (failed["error"], failed["url"], gone["statusReason"]) == (
        "media_expired", None, "MEDIA_EXPIRED")

    r = await client.get(img["url"])
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-security-policy"].endswith("sandbox")
    r = await client.get(audio["url"])
    assert r.status_code == 200 and r.content == b"tiene envio gratis"

    # Altered, foreign and expired links are refused.
    tampered = img["url"][:-4] + ("0000" if not img["url"].endswith("0000") else "1111")
    assert (await client.get(tampered)).status_code == 403
    att_id = uuid.UUID(img["id"])
    foreign = signed_path(settings, att_id, uuid.uuid4())
    r = await client.get(foreign)
    assert r.status_code == 403 and r.json()["code"] == "LINK_INVALID"
    past = int(time.time()) - 10
    expired = (f"/media/{att_id}?expires={past}"
               f"&sig={signature(settings, att_id, world.tenant_id, past)}")
    r = await client.get(expired)
    assert r.status_code == 403 and r.json()["code"] == "LINK_EXPIRED"
    assert (await client.get(f"/media/not-a-uuid?expires={past}&sig=x")).status_code == 404
    assert (await client.get(f"/media/{att_id}")).status_code == 404


async def test_another_tenant_sees_no_attachments(client, runtime, worker, graph, test_env):
    world = await make_world(runtime, token="EAA-gql-media")
    intruder = await make_world(runtime, name="Intruder")
    cid = await _answered_media(client, runtime, graph, test_env, world)
    body = await gql(client, QUERY, {"id": cid}, key=intruder.api_key)
    assert body["data"]["conversation"] is None
