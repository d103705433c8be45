"""`mca simulate whatsapp` with a picture, a voice note, a document and a location: the file
is served by the fake Graph server, and the agent answers what was sent."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_operator_cli import assert_error, mca
from tests.factories import make_world
from tests.helpers import db_rows, png, wait_for


async def _reply(graph, world, n: int) -> str:
    async def sends():
        found = await graph.requests(account_id=world.account_id, kind="send")
        return found if len(found) >= n else None
    return str((await wait_for(sends))[n - 1]["json"]["text"]["body"])


async def test_simulate_every_kind(live, runtime, worker, graph, test_env, tmp_path: Path):
    world = await make_world(runtime, token="EAA-simulate")
    photo, voice, pdf = tmp_path / "lamp.png", tmp_path / "note.ogg", tmp_path / "invoice.pdf"
    photo.write_bytes(png())
    voice.write_bytes(b"what time do you open")
    pdf.write_bytes(b"%PDF-1.4 invoice")
    base = ("simulate", "whatsapp", "--channel", world.account_id, "--from", "5215512345678",
            "--url", live.url)

    r = await mca(*base, "--image", str(photo), "is it in stock?")
    assert r.code == 0, r.err
    assert await _reply(graph, world, 1) == "[sandbox] is it in stock? | [image image/png]"
    r = await mca(*base, "--voice", str(voice))
    assert r.code == 0, r.err
    assert await _reply(graph, world, 2) == (
        "[sandbox] [Voice note, transcribed] what time do you open")
    r = await mca(*base, "--document", str(pdf))
    assert r.code == 0, r.err
    assert await _reply(graph, world, 3) == (
        "[sandbox] [The customer sent the document invoice.pdf.] | [file invoice.pdf]")
    r = await mca(*base, "--location", "19.43,-99.13,Zocalo")
    assert r.code == 0, r.err
    assert await _reply(graph, world, 4) == (
        "[sandbox] [Location shared] Zocalo; coordinates 19.43, -99.13")
    kinds = await db_rows(test_env["DATABASE_URL"], "SELECT kind FROM attachments ORDER BY created_at")
    assert [k["kind"] for k in kinds] == ["image", "voice", "document"]

    assert_error(await mca(*base, "--location", "north"), "--location must be LAT,LON")
    assert_error(await mca(*base, "--image", str(tmp_path / "missing.png")), "no such file")
    assert_error(await mca(*base, "--image", str(photo), "--voice", str(voice)), "one of")
