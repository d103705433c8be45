"""Build and sign Meta webhook payloads in the shapes Meta documents (see tests/fixtures/)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "test-app-secret-0000"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def sign(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def encode(body: dict[str, Any]) -> bytes:
    # Meta escapes non-ASCII as \\uXXXX; the signature covers exactly these bytes.
    return json.dumps(body, ensure_ascii=True).encode()


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = encode(body)
    return raw, {"X-Hub-Signature-256": sign(raw, secret), "Content-Type": "application/json"}


def wa_message(text: str, *, wamid: str | None = None, sender: str = "5215512345678",
               mtype: str = "text", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"from": sender, "id": wamid or f"wamid.{uuid.uuid4().hex}",
                           "timestamp": str(int(time.time())), "type": mtype}
    if mtype == "text":
        msg["text"] = {"body": text}
    msg.update(extra or {})
    return msg


def wa_webhook(phone_number_id: str, messages: list[dict[str, Any]] | None = None,
               statuses: list[dict[str, Any]] | None = None, name: str = "Ana") -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages
                             if "from" in m]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}


def wa_status(wamid: str, status: str, *, code: int | None = None, title: str = "") -> dict[str, Any]:
    st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())),
                          "recipient_id": "5215512345678"}
    if code is not None:
        st["errors"] = [{"code": code, "title": title, "message": title}]
    return st


def ig_webhook(account_id: str, sender: str, text: str | None = None, *, mid: str | None = None,
               echo: bool = False, event: dict[str, Any] | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "sender": {"id": account_id if echo else sender},
        "recipient": {"id": sender if echo else account_id},
        "timestamp": int(time.time() * 1000),
    }
    if event is not None:
        ev.update(event)
    else:
        message: dict[str, Any] = {"mid": mid or f"aWdf{uuid.uuid4().hex}", "text": text}
        if echo:
            message["is_echo"] = True
        ev["message"] = message
    return {"object": "instagram",
            "entry": [{"id": account_id, "time": int(time.time() * 1000), "messaging": [ev]}]}


async def deliver(client: Any, raw: bytes, headers: dict[str, str], tries: int = 50) -> Any:
    """POST a signed webhook the way Meta delivers it: the same body again while the API
    refuses it with 503 + Retry-After (its ingest admission on a busy machine), then the answer.
    Waits a tenth of Retry-After between tries, to keep tests short."""
    for _ in range(tries):
        r = await client.post("/webhooks/meta", content=raw, headers=headers)
        if r.status_code != 503:
            return r
        await asyncio.sleep(float(r.headers.get("retry-after", "1")) / 10)
    return r


async def post_wa(client: Any, phone_number_id: str, *messages: dict[str, Any]) -> Any:
    """A customer's WhatsApp messages in one signed webhook, delivered as Meta does; the API
    must take it (200)."""
    raw, headers = signed(wa_webhook(phone_number_id, list(messages)))
    r = await deliver(client, raw, headers)
    assert r.status_code == 200, r.text
    return r


async def post_text(client: Any, phone_number_id: str, text: str,
                    sender: str = "5215512345678") -> Any:
    """A customer's WhatsApp text (see post_wa)."""
    return await post_wa(client, phone_number_id, wa_message(text, sender=sender))
