"""A web chat visitor attaches an image: checked (type, bytes, size), kept, read by the agent
as image input, and shown back in the visitor's history through a signed link."""

from __future__ import annotations

import base64
import uuid

from tests.helpers import db_rows, png, wait_for
from tests.widget.test_widget_api import assert_error_shape


async def _send_image(visitor, data: bytes, mime: str = "image/png", client_id: str | None = None,
                      caption: str | None = None):
    params = {"clientMessageId": client_id or uuid.uuid4().hex}
    if caption:
        params["caption"] = caption
    return await visitor.client.post(f"{visitor.base}/images", params=params, content=data,
                                     headers=visitor.headers(**{"Content-Type": mime}))


async def test_an_image_is_answered_and_shown_in_history(visitor, worker, model, client, test_env):
    image = png()
    r = await _send_image(visitor, image, caption="do you have it in blue?", client_id="img-00001")
    assert r.status_code == 201, r.text
    sent = r.json()["message"]
    assert sent["text"] == "do you have it in blue?" and sent["clientMessageId"] == "img-00001"
    (att,) = sent["attachments"]
    assert att["kind"] == "image" and att["mimeType"] == "image/png"
    assert (await client.get(att["url"])).content == image

    async def answered():
        msgs = (await visitor.history())["messages"]
        return msgs if len(msgs) == 2 and msgs[1]["status"] == "sent" else None

    msgs = await wait_for(answered)
    assert msgs[1]["text"] == "[sandbox] do you have it in blue? | [image image/png]"
    assert msgs[0]["attachments"][0]["mimeType"] == "image/png"
    assert "transcript" not in msgs[0]["attachments"][0]
    (req,) = await model.requests()
    parts = req["body"]["input"][-1]["content"]
    assert parts[1] == {"type": "input_image", "detail": "auto",
                        "image_url": "data:image/png;base64," + base64.b64encode(image).decode()}

    # The same client id again: stored once, the same message back.
    again = await _send_image(visitor, image, client_id="img-00001")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(await db_rows(test_env["DATABASE_URL"], "SELECT 1 FROM attachments")) == 1


async def test_bad_images_are_refused_and_nothing_is_stored(visitor, test_env, settings):
    assert_error_shape(await _send_image(visitor, b"GIF89a....", "image/gif"), 415,
                       "UNSUPPORTED_MEDIA_TYPE")
    # The bytes must be what the type says.
    assert_error_shape(await _send_image(visitor, b"<svg onload=alert(1)>", "image/png"), 422,
                       "VALIDATION")
    assert_error_shape(await _send_image(visitor, b"", "image/jpeg"), 422, "VALIDATION")
    big = b"\xff\xd8\xff" + b"x" * settings.widget_image_max_bytes
    assert_error_shape(await _send_image(visitor, big, "image/jpeg"), 413, "PAYLOAD_TOO_LARGE")
    assert_error_shape(await _send_image(visitor, png(), client_id="no"), 422, "VALIDATION")
    visitor.token = "wv2.forged"
    assert_error_shape(await _send_image(visitor, png()), 401)
    db = test_env["DATABASE_URL"]
    assert await db_rows(db, "SELECT 1 FROM messages") == []
    assert await db_rows(db, "SELECT 1 FROM attachments") == []
