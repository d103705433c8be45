"""What reaches /graphql before any GraphQL: bodies that are too big, not UTF-8, or never
finish; and what validation errors tell a stranger in production.

Seen: a non-UTF-8 body answered 500 with two tracebacks; a 30 MB body was read and parsed; a
client that disconnected mid-body (on /graphql or /webhooks/meta) left two ERROR tracebacks;
"Did you mean 'conversations'?" spelled out the schema to callers without a key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.graphql.helpers import codes, gql, ok
from tests.helpers import wait_for


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records if r.levelno >= logging.ERROR]


@pytest.fixture
def logs() -> Iterator[Records]:
    """Every log record, uvicorn's own included (its loggers do not propagate to the root)."""
    handler = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn")]
    app_logger = logging.getLogger("app")
    level = app_logger.level
    app_logger.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        app_logger.setLevel(level)


async def test_a_body_that_is_not_utf8_is_a_400(client, world, logs):
    r = await client.post("/graphql", content=b'{"query": "{ viewer { name \xff\xfe } }"}',
                          headers={"Content-Type": "application/json",
                                   "Authorization": f"Bearer {world.api_key}"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert logs.errors() == []
    ok(await gql(client, "{ viewer { name } }", key=world.api_key))


async def test_bodies_over_the_limit_are_a_413_without_being_read(client, world, logs, monkeypatch):
    settings = client._transport.app.state.runtime.settings
    monkeypatch.setattr(settings, "graphql_max_body_bytes", 4096)
    padding = " " * 5000
    r = await client.post("/graphql", content=('{"query": "{ viewer { name } }"' + padding + "}").encode(),
                          headers={"Content-Type": "application/json",
                                   "Authorization": f"Bearer {world.api_key}"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length to go by
        yield b'{"query": "{ viewer { name } }"'
        for _ in range(10):
            yield b" " * 1000
        yield b"}"

    r = await client.post("/graphql", content=chunked(), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {world.api_key}"})
    assert r.status_code == 413
    small = ('{"query": "{ viewer { name } }"' + " " * 1000 + "}").encode()
    r = await client.post("/graphql", content=small, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {world.api_key}"})
    assert r.status_code == 200 and r.json()["data"]["viewer"]["name"] == "Acme"
    assert logs.errors() == []


async def test_the_default_limit_refuses_a_30_mb_body(client, world):
    big = b'{"query": "{ viewer { name } }", "variables": {"x": "' + b"a" * 30_000_000 + b'"}}'
    r = await client.post("/graphql", content=big, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {world.api_key}"})
    assert r.status_code == 413


async def abandon_mid_body(url: str, path: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n").encode() + b'{"query": "{ vie')
    await writer.drain()
    # uvicorn starts the app once the headers are in; the app then waits for the rest.
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("path", ["/graphql", "/webhooks/meta"])
async def test_a_client_that_disconnects_mid_body_is_not_an_error(live, logs, path):
    await abandon_mid_body(live.url, path)

    async def noted() -> bool:
        return any("client disconnected" in r.getMessage() for r in logs.records)

    await wait_for(noted)
    assert logs.errors() == []
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def production_app(world: Any) -> AsyncIterator[httpx.AsyncClient]:
    from app.config import Settings
    from app.main import create_app

    application = create_app(Settings(app_env="production"))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_production_gives_no_field_suggestions(client, world):
    typo = "{ conversatons { edges { cursor } } }"
    dev = await gql(client, typo, key=world.api_key)
    assert "Did you mean" in dev["errors"][0]["message"]  # development keeps them
    async for prod in production_app(world):
        for key in (None, world.api_key):
            body = await gql(prod, typo, key=key)
            assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
            message = body["errors"][0]["message"]
            assert "conversatons" in message and "Did you mean" not in message
            assert "conversations" not in message
        body = await gql(prod, '{ conversations(filter: {mode: HUMA}) { edges { cursor } } }',
                         key=world.api_key)
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "HUMAN" not in body["errors"][0]["message"]
        # Values in variables are checked at execution: no suggestions there either.
        by_variable = "query($f: ConversationFilter) { conversations(filter: $f) { edges { cursor } } }"
        for variables, leak in (({"f": {"mode": "HUMA"}}, "'HUMAN'"), ({"f": {"mod": "HUMAN"}}, "'mode'")):
            body = await gql(prod, by_variable, variables, key=world.api_key)
            assert body.get("errors") and body["data"] is None
            message = body["errors"][0]["message"]
            assert "Did you mean" not in message and leak not in message, message
