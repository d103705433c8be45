"""The console shows a customer's photo inline and a voice note as an audio player with its
transcript, loaded through the API's signed media links."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.browser.helpers import Watch, sign_in
from tests.factories import make_world
from tests.helpers import png
from tests.meta import signed, wa_message, wa_webhook


async def test_console_shows_a_photo_and_a_voice_note_with_its_transcript(
    browser, live, runtime, worker, graph, watch: Watch, shots
):
    world = await make_world(runtime, token="EAA-console-media")
    image = png()
    await graph.add_media("C-IMG", image, "image/png")
    await graph.add_media("C-VOICE", b"do you ship to Monterrey", "audio/ogg")
    raw, headers = signed(wa_webhook(world.account_id, [
        wa_message("", mtype="image", extra={"image": {"id": "C-IMG", "mime_type": "image/png",
                                                       "caption": "this lamp"}}),
        wa_message("", mtype="audio", extra={"audio": {"id": "C-VOICE", "voice": True,
                                                       "mime_type": "audio/ogg"}}),
        wa_message("", mtype="image", extra={"image": {"id": "C-GONE"}}),
    ]))
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    console = watch.attach(await browser.new_page())
    await sign_in(console, live, world.api_key)
    await console.locator(".conv").click()
    reply = console.locator("#messages .msg.role-ai .bubble")
    await expect(reply).to_have_text(
        "[sandbox] this lamp | [image image/png] | [Voice note, transcribed] do you ship to Monterrey"
        " | [The customer sent a photo that could not be opened (media_expired).]")
    # The photo that expired at Meta says why, on the message and on its attachment.
    gone = console.locator("#messages .msg.inbound").nth(2)
    await expect(gone.locator(".att-error")).to_have_text("photo could not be opened (media_expired)")
    await expect(gone.locator(".inbound-status")).to_have_text("could not be read (media_expired)")

    photo = console.locator("#messages .msg.inbound img.att-image")
    await expect(photo).to_have_count(1)
    await expect(photo).to_have_attribute("alt", "this lamp")
    # Decoded by the browser: the signed link served the real bytes.
    await console.wait_for_function(
        "() => { const i = document.querySelector('img.att-image'); "
        "return i && i.complete && i.naturalWidth === 4 && i.naturalHeight === 3; }")
    player = console.locator("#messages .msg.inbound audio.att-audio")
    await expect(player).to_have_count(1)
    assert (await player.get_attribute("src") or "").startswith("/media/")
    await expect(console.locator("#messages .transcript")).to_have_text("do you ship to Monterrey")
    await shots(console, "console-media")
    assert watch.dialogs == [] and watch.errors == []
