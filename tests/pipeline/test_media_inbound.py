"""Customers' files end to end over real HTTP: the webhook names a media id, the worker
downloads it from the (fake) Graph API with the channel's token, keeps it, transcribes a
voice note through the openai SDK, and the model request carries the transcript, the image or
the file; the reply is sent. A file that cannot be used gets the fallback reply and its
reason is stored."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from tests.factories import make_world
from tests.graphql.helpers import codes, gql, ok
from tests.helpers import db_rows, wait_for
from tests.meta import ig_webhook, post_wa, signed, wa_message

JPEG = b"\xff\xd8\xff\xe0" + b"fake-jpeg-bytes" * 20
PDF = b"%PDF-1.4 invoice 2231 total 99.00"
TOKEN = "EAA-media-token"


async def _sent(graph, world, n: int = 1) -> list[dict]:
    async def sends() -> list[dict] | None:
        found = await graph.requests(account_id=world.account_id, kind="send")
        return found if len(found) >= n else None
    return await wait_for(sends)


async def _settled(db: str) -> list:
    async def done():
        rows = await db_rows(db, "SELECT status FROM messages WHERE direction = 'inbound'")
        return rows and all(r["status"] not in ("received", "processing") for r in rows) and (
            await db_rows(db, "SELECT 1 FROM messages WHERE direction = 'outbound' "
                              "AND status = 'sent'"))
    await wait_for(done)
    return await db_rows(db, "SELECT * FROM messages ORDER BY seq")


def _user_content(request: dict) -> list:
    return [item["content"] for item in request["body"]["input"] if item.get("role") == "user"]


async def test_voice_note_is_downloaded_with_the_token_transcribed_and_answered(
    client, runtime, worker, graph, model, test_env, settings
):
    world = await make_world(runtime, token=TOKEN, credits=10)
    await graph.add_media("MEDIA-VOICE-1", b"quiero dos cajas", "audio/ogg")
    await post_wa(client, world.account_id, wa_message("", mtype="audio", extra={
        "audio": {"id": "MEDIA-VOICE-1", "mime_type": "audio/ogg; codecs=opus",
                  "sha256": hashlib.sha256(b"quiero dos cajas").hexdigest(), "voice": True}}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"] == "[sandbox] [Voice note, transcribed] quiero dos cajas"

    log = await graph.media_log()
    assert [(e["op"], e["media_id"], e["authorization"]) for e in log] == [
        ("lookup", "MEDIA-VOICE-1", f"Bearer {TOKEN}"),
        ("download", "MEDIA-VOICE-1", f"Bearer {TOKEN}"),
    ]
    (tr,) = await model.transcriptions()
    assert tr["model"] == "gpt-4o-mini-transcribe" and tr["content_type"] == "audio/ogg"
    (req,) = await model.requests()
    assert _user_content(req) == [
        [{"type": "input_text", "text": "[Voice note, transcribed] quiero dos cajas"}]]

    db = test_env["DATABASE_URL"]
    rows = await _settled(db)
    assert [(r["direction"], r["status"], r["status_reason"]) for r in rows] == [
        ("inbound", "answered", None), ("outbound", "sent", None)]
    (att,) = await db_rows(db, "SELECT * FROM attachments")
    assert att["kind"] == "voice" and att["transcript"] == "quiero dos cajas"
    assert att["mime_type"] == "audio/ogg" and att["size_bytes"] == 16 and att["error"] is None
    assert att["message_id"] == rows[0]["id"]
    kept = Path(settings.data_dir) / "media" / att["storage_key"]
    assert kept.read_bytes() == b"quiero dos cajas"
    assert att["storage_key"].startswith(f"{world.tenant_id}/{rows[0]['conversation_id']}/")
    # A voice note costs like any reply: one credit, nothing for the transcription.
    assert (await db_rows(db, "SELECT credit_balance FROM tenants"))[0]["credit_balance"] == 9


async def test_photo_with_caption_goes_to_the_model_as_image_input(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await graph.add_media("MEDIA-IMG-1", JPEG, "image/jpeg")
    await post_wa(client, world.account_id, wa_message("", mtype="image", extra={
        "image": {"id": "MEDIA-IMG-1", "mime_type": "image/jpeg", "caption": "is this in stock?",
                  "sha256": hashlib.sha256(JPEG).hexdigest()}}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"] == "[sandbox] is this in stock? | [image image/jpeg]"
    (req,) = await model.requests()
    assert _user_content(req) == [[
        {"type": "input_text", "text": "is this in stock?"},
        {"type": "input_image", "detail": "auto",
         "image_url": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()},
    ]]
    (att,) = await db_rows(test_env["DATABASE_URL"], "SELECT * FROM attachments")
    assert (att["kind"], att["caption"], att["sha256"]) == (
        "image", "is this in stock?", hashlib.sha256(JPEG).hexdigest())


async def test_pdf_is_file_input_and_a_video_is_described(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await graph.add_media("MEDIA-PDF-1", PDF, "application/pdf")
    await graph.add_media("MEDIA-VID-1", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    await post_wa(client, world.account_id,
                wa_message("", mtype="document", extra={"document": {
                    "id": "MEDIA-PDF-1", "mime_type": "application/pdf",
                    "filename": "invoice-2231.pdf"}}),
                wa_message("", mtype="video", extra={"video": {
                    "id": "MEDIA-VID-1", "mime_type": "video/mp4", "caption": "the unboxing"}}))
    send = (await _sent(graph, world))[0]
    (req,) = await model.requests()
    pdf, video = _user_content(req)
    assert pdf == [
        {"type": "input_text", "text": "[The customer sent the document invoice-2231.pdf.]"},
        {"type": "input_file", "filename": "invoice-2231.pdf",
         "file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode()},
    ]
    assert video == [{"type": "input_text", "text": '[The customer sent a video (video/mp4) with '
                      'the caption "the unboxing". Its content could not be opened here.]'}]
    # One reply for the burst, in order.
    assert send["json"]["text"]["body"].startswith(
        "[sandbox] [The customer sent the document invoice-2231.pdf.] | [file invoice-2231.pdf] "
        "| [The customer sent a video")
    rows = await _settled(test_env["DATABASE_URL"])
    assert [r["status"] for r in rows] == ["answered", "answered", "sent"]


async def test_location_and_contacts_become_text_and_a_burst_with_media_is_answered_once_in_order(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN, credits=10)
    await graph.add_media("MEDIA-VOICE-2", b"and deliver it here", "audio/ogg")
    await post_wa(client, world.account_id,
                wa_message("I want this one"),
                wa_message("", mtype="location", extra={"location": {
                    "latitude": 19.4326, "longitude": -99.1332, "name": "Oficina",
                    "address": "Av. Reforma 1, CDMX"}}),
                wa_message("", mtype="audio", extra={"audio": {
                    "id": "MEDIA-VOICE-2", "mime_type": "audio/ogg", "voice": True}}),
                wa_message("", mtype="contacts", extra={"contacts": [{
                    "name": {"formatted_name": "Luis Pérez", "first_name": "Luis"},
                    "phones": [{"phone": "+52 55 1111 2222", "type": "CELL"}]}]}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"] == (
        "[sandbox] I want this one | [Location shared] Oficina; Av. Reforma 1, CDMX; "
        "coordinates 19.4326, -99.1332 | [Voice note, transcribed] and deliver it here | "
        "[Contact shared] Luis Pérez: +52 55 1111 2222")
    assert len(await model.requests()) == 1
    rows = await _settled(test_env["DATABASE_URL"])
    assert [(r["type"], r["status"]) for r in rows] == [
        ("text", "answered"), ("location", "answered"), ("audio", "answered"),
        ("contacts", "answered"), ("text", "sent")]
    assert len(await graph.requests(account_id=world.account_id, kind="send")) == 1
    assert (await db_rows(test_env["DATABASE_URL"], "SELECT credit_balance FROM tenants")
            )[0]["credit_balance"] == 9


async def test_expired_media_gets_the_fallback_and_the_reason_is_stored(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN, credits=10)
    await graph.add_media("MEDIA-OLD", JPEG, "image/jpeg", expired=True)
    await post_wa(client, world.account_id, wa_message("", mtype="image", extra={
        "image": {"id": "MEDIA-OLD", "mime_type": "image/jpeg"}}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"].startswith("Sorry, I couldn't open what you sent.")
    assert await model.requests() == []  # nothing to read: no model call
    db = test_env["DATABASE_URL"]
    rows = await _settled(db)
    assert [(r["status"], r["status_reason"]) for r in rows] == [
        ("answered", "media_expired"), ("sent", None)]
    assert rows[1]["meta"] and '"fallback": true' in rows[1]["meta"]
    (att,) = await db_rows(db, "SELECT * FROM attachments")
    assert att["error"] == "media_expired" and att["storage_key"] is None
    # A fallback costs like a reply.
    assert (await db_rows(db, "SELECT credit_balance FROM tenants"))[0]["credit_balance"] == 9


async def test_a_file_over_the_limit_is_never_downloaded_past_it(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    # Meta's image limit is 5 MB; this lookup claims a small file but serves 6 MB.
    big = b"\xff\xd8" + b"x" * (6 * 1024 * 1024)
    await graph.add_media("MEDIA-BIG", big, "image/jpeg", file_size=1000,
                          sha256=hashlib.sha256(big).hexdigest())
    # And one whose lookup says it is too large: not even fetched.
    await graph.add_media("MEDIA-HUGE", JPEG, "image/jpeg", file_size=50 * 1024 * 1024)
    await post_wa(client, world.account_id,
                wa_message("", mtype="image", extra={"image": {"id": "MEDIA-BIG"}}),
                wa_message("", mtype="sticker", extra={"sticker": {"id": "MEDIA-HUGE",
                                                                   "mime_type": "image/webp"}}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"].startswith("Sorry, I couldn't open what you sent.")
    rows = await _settled(test_env["DATABASE_URL"])
    assert [r["status_reason"] for r in rows[:2]] == ["media_too_large", "media_too_large"]
    ops = [(e["op"], e["media_id"]) for e in await graph.media_log()]
    assert ("download", "MEDIA-HUGE") not in ops and ("download", "MEDIA-BIG") in ops
    assert await db_rows(test_env["DATABASE_URL"],
                         "SELECT 1 FROM attachments WHERE storage_key IS NOT NULL") == []


async def test_unknown_type_gets_the_agents_own_fallback(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await db_rows(test_env["DATABASE_URL"],
                  "UPDATE agents SET media_fallback_text = 'Solo leo texto, ¿me lo escribes?'")
    await post_wa(client, world.account_id, wa_message("", mtype="unsupported", extra={
        "unsupported": {"type": "poll_creation"},
        "errors": [{"code": 131051, "title": "Message type unknown"}]}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"] == "Solo leo texto, ¿me lo escribes?"
    rows = await _settled(test_env["DATABASE_URL"])
    assert [(r["status"], r["status_reason"]) for r in rows] == [
        ("answered", "unsupported_type"), ("sent", None)]


async def test_corrupt_download_is_refused_and_text_beside_it_is_still_answered(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await graph.add_media("MEDIA-BAD", JPEG, "image/jpeg", sha256="0" * 64)
    await post_wa(client, world.account_id, wa_message("what about this one?"),
                wa_message("", mtype="image", extra={"image": {"id": "MEDIA-BAD"}}))
    send = (await _sent(graph, world))[0]
    assert send["json"]["text"]["body"] == (
        "[sandbox] what about this one? | [The customer sent a photo that could not be opened "
        "(media_corrupt).]")
    rows = await _settled(test_env["DATABASE_URL"])
    assert [r["status_reason"] for r in rows] == [None, "media_corrupt", None]


async def test_reaction_is_stored_on_the_message_it_reacts_to(
    client, runtime, worker, graph, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await post_wa(client, world.account_id, wa_message("hola"))
    wamid = (await _sent(graph, world))[0]["response"]["messages"][0]["id"]
    db = test_env["DATABASE_URL"]
    await _settled(db)
    await post_wa(client, world.account_id, wa_message("", mtype="reaction", wamid="wamid.R1", extra={
        "reaction": {"message_id": wamid, "emoji": "👍"}}))
    reply = await db_rows(db, "SELECT meta->>'reaction' AS r, conversation_id FROM messages "
                              "WHERE provider_message_id = $1", wamid)
    assert reply[0]["r"] == "👍"
    shown = ok(await gql(client, """query($id: ID!) { conversation(id: $id) {
        messages(first: 10) { edges { node { direction reaction } } } } }""",
        {"id": str(reply[0]["conversation_id"])}, key=world.api_key))
    nodes = [e["node"] for e in shown["conversation"]["messages"]["edges"]]
    assert [n["reaction"] for n in nodes if n["direction"] == "OUTBOUND"] == ["👍"]
    await post_wa(client, world.account_id, wa_message("", mtype="reaction", wamid="wamid.R1", extra={
        "reaction": {"message_id": wamid}}))
    reply = await db_rows(db, "SELECT meta->>'reaction' AS r FROM messages "
                              "WHERE provider_message_id = $1", wamid)
    assert reply[0]["r"] is None
    # Shown, not answered.
    assert len(await graph.requests(account_id=world.account_id, kind="send")) == 1


async def test_instagram_image_from_the_cdn_is_read_by_the_model(
    client, runtime, worker, graph, model, test_env, fakes
):
    world = await make_world(runtime, kind="instagram", token="IGQ-token")
    await graph.add_media("IGCDN-1", JPEG, "image/png")
    raw, headers = signed(ig_webhook(world.account_id, "IGSID-9", event={"message": {
        "mid": "aWdf-img-1", "attachments": [
            {"type": "image", "payload": {"url": fakes["graph"] + "/_fake/cdn/IGCDN-1"}}]}}))
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    send = (await _sent(graph, world))[0]
    assert send["json"]["message"]["text"] == (
        "[sandbox] [The customer sent a photo.] | [image image/png]")
    ops = [(e["op"], e["media_id"]) for e in await graph.media_log()]
    assert ops == [("cdn", "IGCDN-1")]


async def test_the_fallback_text_is_an_agent_setting(client, runtime, worker, graph, test_env):
    world = await make_world(runtime, token=TOKEN)
    update = """mutation($id: ID!, $t: String) {
      updateAgent(id: $id, input: {mediaFallbackText: $t}) { mediaFallbackText } }"""
    got = ok(await gql(client, update, {"id": str(world.agent_id), "t": "  Mándame texto  "},
                       key=world.api_key))
    assert got["updateAgent"]["mediaFallbackText"] == "Mándame texto"
    assert codes(await gql(client, update, {"id": str(world.agent_id), "t": "x" * 1001},
                           key=world.api_key)) == ["BAD_USER_INPUT"]
    await post_wa(client, world.account_id,
                  wa_message("", mtype="sticker", extra={"sticker": {"id": "GONE"}}))
    assert (await _sent(graph, world))[0]["json"]["text"]["body"] == "Mándame texto"
    # Empty: back to the platform's text.
    got = ok(await gql(client, update, {"id": str(world.agent_id), "t": ""}, key=world.api_key))
    assert got["updateAgent"]["mediaFallbackText"] is None


async def test_media_credits_price_what_the_agent_read_and_a_fallback_costs_like_a_reply(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN, credits=10)
    update = """mutation($id: ID!, $n: Int) {
      updateAgent(id: $id, input: {mediaCredits: $n}) { mediaCredits creditsPerReply } }"""
    assert codes(await gql(client, update, {"id": str(world.agent_id), "n": -1},
                           key=world.api_key)) == ["BAD_USER_INPUT"]
    got = ok(await gql(client, update, {"id": str(world.agent_id), "n": 2}, key=world.api_key))
    assert got["updateAgent"] == {"mediaCredits": 2, "creditsPerReply": 1}
    db = test_env["DATABASE_URL"]

    async def balance_after_sends(n: int) -> int:
        await _sent(graph, world, n)
        await wait_for(lambda: _none_reserved(db))
        return int((await db_rows(db, "SELECT credit_balance FROM tenants"))[0][0])

    await graph.add_media("MEDIA-PRICED", b"one more please", "audio/ogg")
    await post_wa(client, world.account_id, wa_message("", mtype="audio", extra={
        "audio": {"id": "MEDIA-PRICED", "voice": True}}))
    assert await balance_after_sends(1) == 7  # the reply and the voice note it read
    await post_wa(client, world.account_id, wa_message("", mtype="image", extra={"image": {"id": "EXPIRED"}}))
    assert await balance_after_sends(2) == 6  # the fallback: a reply, the extra given back
    ledger = await db_rows(db, "SELECT sum(delta) AS s FROM credit_ledger")
    assert ledger[0]["s"] == 6
    amounts = await db_rows(db, "SELECT amount, state FROM credit_reservations ORDER BY created_at")
    assert [(r["amount"], r["state"]) for r in amounts] == [(3, "committed"), (1, "committed")]
    await post_wa(client, world.account_id, wa_message("and in text?"))
    assert await balance_after_sends(3) == 5  # text only: the reply's price


async def _none_reserved(db: str) -> bool:
    return not await db_rows(db, "SELECT 1 FROM credit_reservations WHERE state = 'reserved'")


async def test_a_rebuilt_context_keeps_what_a_voice_note_said(
    client, runtime, worker, graph, model, test_env
):
    world = await make_world(runtime, token=TOKEN)
    await graph.add_media("MEDIA-VOICE-H", b"my order is 4471", "audio/ogg")
    await post_wa(client, world.account_id, wa_message("", mtype="audio", extra={
        "audio": {"id": "MEDIA-VOICE-H", "voice": True}}))
    await _sent(graph, world)
    await _settled(test_env["DATABASE_URL"])
    await model.forget()  # the stored chain is gone: the next turn sends our own history
    await post_wa(client, world.account_id, wa_message("where is it?"))
    await _sent(graph, world, 2)
    last = (await model.requests())[-1]["body"]
    assert "previous_response_id" not in last
    assert [i["content"] for i in last["input"]] == [
        "my order is 4471", "[sandbox] [Voice note, transcribed] my order is 4471", "where is it?"]


async def test_instagram_audio_is_transcribed_and_a_gone_cdn_link_gets_the_fallback(
    client, runtime, worker, graph, model, test_env, fakes
):
    world = await make_world(runtime, kind="instagram", token="IGQ-token")
    await graph.add_media("IGCDN-AUDIO", b"tienen talla M", "audio/mp4")
    await graph.add_media("IGCDN-GONE", JPEG, "image/jpeg", url_expired=True)

    async def dm(mid: str, kind: str, media_id: str) -> None:
        raw, headers = signed(ig_webhook(world.account_id, "IGSID-3", event={"message": {
            "mid": mid, "attachments": [
                {"type": kind, "payload": {"url": f"{fakes['graph']}/_fake/cdn/{media_id}"}}]}}))
        assert (await client.post("/webhooks/meta", content=raw,
                                  headers=headers)).status_code == 200

    await dm("aWdf-audio-1", "audio", "IGCDN-AUDIO")
    send = (await _sent(graph, world))[0]
    assert send["json"]["message"]["text"] == "[sandbox] [Audio file, transcribed] tienen talla M"
    await _settled(test_env["DATABASE_URL"])
    await dm("aWdf-gone-1", "image", "IGCDN-GONE")
    send = (await _sent(graph, world, 2))[1]
    assert send["json"]["message"]["text"].startswith("Sorry, I couldn't open what you sent.")
    rows = await _settled(test_env["DATABASE_URL"])
    assert [r["status_reason"] for r in rows if r["direction"] == "inbound"] == [
        None, "media_expired"]
