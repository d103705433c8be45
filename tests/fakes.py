"""Thin helpers to drive the fake servers' admin endpoints from tests."""

from __future__ import annotations

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

    async def reset(self) -> None:
        (await self.client.post("/_fake/reset")).raise_for_status()
