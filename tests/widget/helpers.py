"""A page talking to the widget API the way widget.js does, and a reader of its SSE stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

ORIGIN = "https://shop.example"


class Visitor:
    """A page talking to the widget API the way widget.js does."""

    def __init__(self, client: httpx.AsyncClient, public_id: str, origin: str | None = ORIGIN):
        self.client = client
        self.public_id = public_id
        self.origin = origin
        self.token: str | None = None
        self.visitor_id: str | None = None

    @property
    def base(self) -> str:
        return f"/widget/{self.public_id}"

    def headers(self, **extra: str) -> dict[str, str]:
        h = dict(extra)
        if self.origin:
            h["Origin"] = self.origin
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    async def session(self) -> Visitor:
        r = await self.client.post(f"{self.base}/session", headers=self.headers())
        assert r.status_code in (200, 201), r.text
        self.token, self.visitor_id = r.json()["token"], r.json()["visitorId"]
        return self

    async def send(self, text: str, client_id: str | None = None) -> httpx.Response:
        body = {"text": text, "clientMessageId": client_id or uuid.uuid4().hex}
        return await self.client.post(f"{self.base}/messages", json=body, headers=self.headers())

    async def history(self, **params: str) -> dict[str, Any]:
        r = await self.client.get(f"{self.base}/messages", params=params, headers=self.headers())
        assert r.status_code == 200, r.text
        return dict(r.json())


class Stream:
    """Reads a visitor's SSE stream event by event."""

    def __init__(self, client: httpx.AsyncClient, visitor: Visitor) -> None:
        self.client = client
        self.visitor = visitor
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cm: Any = None
        self._lines: Any = None
        self.response: httpx.Response | None = None

    async def __aenter__(self) -> Stream:
        self._cm = self.client.stream("GET", f"{self.visitor.base}/stream",
                                      headers=self.visitor.headers())
        self.response = await self._cm.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(*exc)

    async def next(self) -> tuple[str, dict[str, Any]]:
        event, data = "message", ""
        async for line in self._lines:
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                self.events.append((event, json.loads(data)))
                return self.events[-1]
        raise AssertionError("stream ended")

    async def until(self, predicate: Any, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        async def scan() -> tuple[str, dict[str, Any]]:
            while True:
                ev = await self.next()
                if predicate(*ev):
                    return ev

        return await asyncio.wait_for(scan(), timeout)
