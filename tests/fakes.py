"""Thin helpers to drive the fake servers' admin endpoints from tests."""

from __future__ import annotations

import base64
from typing import Any

import httpx


class FakeControl:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def requests(self, **params: str) -> list[dict[str, Any]]:
        r = await self.client.get("/_fake/requests", params=params)
        r.raise_for_status()
        return list(r.json()["requests"])

    async def script(self, responses: list[dict[str, Any]], **extra: Any) -> None:
        r = await self.client.post("/_fake/script", json={"responses": responses, **extra})
        r.raise_for_status()

    async def config(self, **cfg: Any) -> None:
        r = await self.client.post("/_fake/config", json=cfg)
        r.raise_for_status()

    async def forget(self) -> None:
        (await self.client.post("/_fake/forget")).raise_for_status()

    async def own(self, kind: str, account_id: str, token: str, name: str = "",
                  display_phone_number: str | None = None) -> None:
        """Graph only: `token` owns the account (what the connection check asks Meta)."""
        r = await self.client.post("/_fake/accounts", json={
            "kind": kind, "account_id": account_id, "token": token, "name": name,
            "display_phone_number": display_phone_number,
        })
        r.raise_for_status()

    async def waba(self, waba_id: str, token: str, phone_numbers: list[str],
                   templates: list[dict[str, Any]]) -> None:
        """Graph only: a WhatsApp Business Account holding `phone_numbers`, with `templates`."""
        r = await self.client.post("/_fake/wabas", json={
            "waba_id": waba_id, "token": token, "phone_numbers": phone_numbers,
            "templates": templates,
        })
        r.raise_for_status()

    async def lookups(self) -> list[dict[str, Any]]:
        r = await self.client.get("/_fake/lookups")
        r.raise_for_status()
        return list(r.json()["lookups"])

    async def reset(self) -> None:
        (await self.client.post("/_fake/reset")).raise_for_status()

    async def add_media(self, media_id: str, data: bytes, mime_type: str, **extra: Any) -> None:
        """Graph only: a customer's file, served behind `GET /{version}/{media_id}` (extra:
        sha256, file_size, expired, url_expired; see app/sandbox/fake_media.py)."""
        r = await self.client.post("/_fake/media", json={
            "media_id": media_id, "data_b64": base64.b64encode(data).decode(),
            "mime_type": mime_type, **extra,
        })
        r.raise_for_status()

    async def media_log(self) -> list[dict[str, Any]]:
        """Graph only: media lookups, downloads and uploads, with their authorization."""
        r = await self.client.get("/_fake/downloads")
        r.raise_for_status()
        return list(r.json()["downloads"])

    async def transcriptions(self) -> list[dict[str, Any]]:
        """OpenAI only: the audio transcription requests."""
        r = await self.client.get("/_fake/transcriptions")
        r.raise_for_status()
        return list(r.json()["transcriptions"])


def graph_root(settings: Any) -> str:
    """The fake Graph server's own URL (the settings' base URL carries the API version)."""
    return str(settings.meta_graph_api_base_url).rsplit("/", 1)[0]


async def own_account(
    http: httpx.AsyncClient, settings: Any, kind: str, account_id: str, token: str,
    name: str = "", display_phone_number: str | None = None,
) -> None:
    """Tell the fake Graph server that `token` owns the account, as Meta would know."""
    r = await http.post(graph_root(settings) + "/_fake/accounts", json={
        "kind": kind, "account_id": account_id, "token": token, "name": name,
        "display_phone_number": display_phone_number,
    })
    r.raise_for_status()
