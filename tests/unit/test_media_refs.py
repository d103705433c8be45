"""Pure readers of media: what a payload carries, locations and contact cards as words, image
sniffing, signed links."""

from __future__ import annotations

import uuid

from cryptography.fernet import Fernet

from app.channels.adapters.instagram import parse_webhook as parse_ig
from app.channels.adapters.whatsapp import contacts_text, location_text, parse_webhook
from app.config import Settings
from app.media.links import signature, signed_path, valid
from app.media.refs import media_refs, sniff


def test_whatsapp_media_refs_carry_id_type_hash_name_and_the_types_limit():
    (voice,) = media_refs("whatsapp", "audio", {"audio": {
        "id": "M1", "mime_type": "audio/ogg; codecs=opus", "sha256": "ab", "voice": True}})
    assert (voice.kind, voice.media_id, voice.mime_type, voice.sha256, voice.limit) == (
        "voice", "M1", "audio/ogg", "ab", 16 * 1024 * 1024)
    (doc,) = media_refs("whatsapp", "document", {"document": {
        "id": "D", "filename": "../../etc/passwd", "caption": "invoice"}})
    assert doc.file_name == ".._.._etc_passwd" and doc.caption == "invoice"
    (sticker,) = media_refs("whatsapp", "sticker", {"sticker": {"id": "S"}})
    assert sticker.limit == 500 * 1024
    assert media_refs("whatsapp", "image", {"image": {"caption": "no id"}}) == []
    assert media_refs("whatsapp", "location", {"location": {}}) == []
    assert media_refs("whatsapp", "image", None) == []


def test_instagram_refs_are_the_attachments_with_a_url():
    ev = {"message": {"attachments": [
        {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}},
        {"type": "share", "payload": {"url": "https://cdn.example/post"}},
        {"type": "file", "payload": {"url": "https://cdn.example/f.pdf"}},
        {"type": "audio", "payload": {"url": "ftp://nope"}},
        {"type": "video"},
    ]}}
    refs = media_refs("instagram", "image", ev)
    assert [(r.kind, r.url) for r in refs] == [("image", "https://cdn.example/a.jpg"),
                                               ("document", "https://cdn.example/f.pdf")]


def test_locations_and_contact_cards_as_words():
    assert location_text({"latitude": 19.4, "longitude": -99.1, "name": "Zocalo",
                          "address": "Centro"}) == (
        "[Location shared] Zocalo; Centro; coordinates 19.4, -99.1")
    assert location_text({"latitude": "x"}) is None
    assert contacts_text([
        {"name": {"first_name": "Ana", "last_name": "Ruiz"}, "phones": [{"phone": "+1 555"}]},
        {"name": {}, "phones": [{"phone": "+2"}, {"nophone": 1}]},
        {"name": {"formatted_name": "Solo"}},
        "junk",
    ]) == "[Contact shared] Ana Ruiz: +1 555; unnamed: +2; Solo"
    assert contacts_text([]) is None


def test_every_customer_message_is_answered_but_reactions_and_notices():
    def msg(mtype: str, **extra: object) -> dict[str, object]:
        return {"from": "5215512345678", "id": f"wamid.{mtype}", "type": mtype, **extra}

    body = {"entry": [{"changes": [{"value": {"metadata": {"phone_number_id": "1"}, "messages": [
        msg("image", image={"id": "1"}), msg("audio", audio={"id": "2"}), msg("unsupported"),
        msg("reaction", reaction={"message_id": "wamid.OURS", "emoji": "👍"}),
        msg("system", system={"body": "changed number"}), msg("text", text={}),
    ]}}]}]}
    parsed = {m.type: m for m in parse_webhook(body).messages}
    assert [t for t, m in parsed.items() if m.answerable] == ["image", "audio", "unsupported"]
    assert (parsed["reaction"].reacts_to, parsed["reaction"].reaction) == ("wamid.OURS", "👍")


def test_images_are_recognised_by_their_bytes():
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"<svg onload=alert(1)>") is None
    assert sniff(b"") is None


def test_signed_links_bind_the_file_its_tenant_and_the_expiry():
    s = Settings(_env_file=None, app_encryption_key=Fernet.generate_key().decode())  # type: ignore[call-arg]
    att, tenant = uuid.uuid4(), uuid.uuid4()
    path = signed_path(s, att, tenant, now=1000)
    assert path.startswith(f"/media/{att}?expires={1000 + s.media_url_ttl_s}&sig=")
    sig = path.rsplit("=", 1)[1]
    assert valid(s, att, tenant, 1000 + s.media_url_ttl_s, sig)
    assert not valid(s, att, uuid.uuid4(), 1000 + s.media_url_ttl_s, sig)
    assert not valid(s, uuid.uuid4(), tenant, 1000 + s.media_url_ttl_s, sig)
    assert not valid(s, att, tenant, 2000 + s.media_url_ttl_s, sig)
    other = Settings(_env_file=None, app_encryption_key=Fernet.generate_key().decode())  # type: ignore[call-arg]
    assert signature(other, att, tenant, 5) != signature(s, att, tenant, 5)


def test_an_instagram_message_it_could_not_render_is_answered_with_the_fallback():
    body = {"entry": [{"id": "17841", "messaging": [
        {"sender": {"id": "IGSID"}, "message": {"mid": "m1", "is_unsupported": True}},
        {"sender": {"id": "IGSID"}, "message": {"mid": "m2", "attachments": [{"type": "share"}]}},
    ]}]}
    parsed = {m.provider_message_id: m for m in parse_ig(body).messages}
    assert parsed["m1"].answerable and not parsed["m2"].answerable
