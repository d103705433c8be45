"""Test harness: real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL / TEST_REDIS_URL),
migrated once per run, wiped between tests; fake Meta Graph and OpenAI servers over real HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from tests.factories import World, make_world
from tests.fakes import FakeControl
from tests.helpers import ROOT, running_worker
from tests.live import LiveServer
from tests.widget.helpers import ORIGIN, Visitor

TEST_ENV = {
    "APP_ENV": "test",
    "LOG_LEVEL": "INFO",
    "META_APP_SECRET": "test-app-secret-0000",
    "META_VERIFY_TOKEN": "test-verify-token",
    "ADMIN_API_KEY": "test-admin-key-0000",
    "APP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "OPENAI_API_KEY": "test-openai-key",
    "OPENAI_MAX_RETRIES": "2",
    "OPENAI_TIMEOUT_S": "5",
    "GRAPH_TIMEOUT_S": "3",
    "SWEEPER_INTERVAL_S": "1",
    "SWEEPER_MIN_AGE_S": "1",
    "LOCK_TTL_MS": "3000",
    "BREAKER_RESET_S": "1",
}


UNIT = ROOT / "tests" / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The unit layer (pure functions, no servers) runs first: a broken parser fails in
    seconds, before PostgreSQL and Redis have even started. Everything else keeps its order."""
    for item in items:
        if item.path.is_relative_to(UNIT):
            item.add_marker(pytest.mark.unit)
    items.sort(key=lambda item: not item.path.is_relative_to(UNIT))


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    db, redis = os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_REDIS_URL")
    if db and redis:
        yield {"database_url": db, "redis_url": redis}
        return
    import shutil

    from app.cli.devservers import start_services

    # A private pair per test run: concurrent runs never share (or stop) each other's servers.
    # Thrown away at the end, so the only servers allowed to trade durability for speed.
    data_dir = ROOT / ".data" / "test-runs" / str(os.getpid())
    svc = start_services(data_dir, durable=False)
    try:
        yield {"database_url": db or svc.database_url, "redis_url": redis or svc.redis_url}
    finally:
        svc.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, str]]:
    from app.sandbox import fake_graph, fake_openai
    from app.sandbox.server import run_in_thread

    graph = run_in_thread(fake_graph.create_app())
    model = run_in_thread(fake_openai.create_app())
    try:
        yield {"graph": graph.url, "openai": model.url}
    finally:
        graph.stop()
        model.stop()


def _database_url(base: str, name: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


async def _recreate_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
def test_env(services: dict[str, str], fakes: dict[str, str]) -> Iterator[dict[str, str]]:
    """One freshly migrated database per test run; the environment every process inherits."""
    name = f"mca_test_{os.getpid()}"
    asyncio.run(_recreate_database(services["database_url"], name))
    env = dict(TEST_ENV)
    env.update(
        DATABASE_URL=_database_url(services["database_url"], name),
        REDIS_URL=services["redis_url"],
        OPENAI_BASE_URL=fakes["openai"] + "/v1",
        META_GRAPH_API_BASE_URL=fakes["graph"] + "/v25.0",
        INSTAGRAM_GRAPH_API_BASE_URL=fakes["graph"] + "/v25.0",
        DATA_DIR=str(ROOT / ".data" / "test-app"),
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = env["DATABASE_URL"]
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        try:
            asyncio.run(_drop_database(services["database_url"], name))
        except Exception:  # noqa: S110 - best effort; the next run recreates it anyway
            pass


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def settings(test_env: dict[str, str]) -> Any:
    from app.config import get_settings

    get_settings.cache_clear()
    return get_settings()


TABLES = (
    "message_templates, event_deliveries, webhook_endpoints, "
    "leads, conversation_archives, credit_reservations, credit_ledger, messages, conversations, "
    "contacts, agents, channels, api_keys, ordering_leases, tenants"
)


@pytest.fixture
async def clean(test_env: dict[str, str], fakes: dict[str, str]) -> None:
    """Every test that touches state starts from empty tables, an empty Redis and reset fakes."""
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        await conn.execute(f"TRUNCATE {TABLES} CASCADE")
    finally:
        await conn.close()
    redis = Redis.from_url(test_env["REDIS_URL"])
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    from app.pipeline.breaker import reset_all

    reset_all()
    async with httpx.AsyncClient() as client:
        await client.post(fakes["graph"] + "/_fake/reset")
        await client.post(fakes["openai"] + "/_fake/reset")


@pytest.fixture
async def runtime(settings: Any, clean: None) -> AsyncIterator[Any]:
    from app.runtime import open_runtime

    rt = await open_runtime(settings)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def app(settings: Any, clean: None) -> AsyncIterator[Any]:
    """The real Starlette app with its lifespan running."""
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def rt(app: Any) -> Any:
    """The app's runtime (its engine, Redis and clients), for tests that go through the app."""
    return app.state.runtime


@pytest.fixture
async def world(rt: Any) -> World:
    return await make_world(rt, name="Acme")


@pytest.fixture
async def other(rt: Any) -> World:
    """A second tenant, hostile to the first: it must never see or touch its objects."""
    return await make_world(rt, name="Intruder")


@pytest.fixture
async def chat(runtime: Any) -> World:
    """A web chat channel that accepts the widget on ORIGIN."""
    return await make_world(runtime, kind="webchat", options={"allowed_origins": [ORIGIN]})


@pytest.fixture
async def visitor(client: httpx.AsyncClient, chat: World) -> Visitor:
    """A visitor of `chat` with a session (a visitor token)."""
    return await Visitor(client, chat.account_id).session()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def graph(fakes: dict[str, str]) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(base_url=fakes["graph"]) as c:
        yield FakeControl(c)


@pytest.fixture
async def model(fakes: dict[str, str]) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(base_url=fakes["openai"]) as c:
        yield FakeControl(c)


@pytest.fixture
async def worker(runtime: Any) -> AsyncIterator[Any]:
    """An arq worker running in this event loop, like `mca worker` does in its own process."""
    async with running_worker(runtime.settings) as w:
        yield w


@pytest.fixture
def serve(settings: Any, clean: None) -> Iterator[Callable[..., LiveServer]]:
    """serve(settings=None, port=0): the real app on a real port; every one started is stopped
    after the test. For a second API process, one with other settings, or one on the port of a
    server stopped before it."""
    from app.main import create_app

    started: list[LiveServer] = []

    def start(with_settings: Any = None, port: int = 0) -> LiveServer:
        server = LiveServer(create_app(with_settings or settings), port=port).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    """The app on a real port (its own event loop in a thread): for streams, websockets and
    browsers, which an in-process ASGI client cannot serve."""
    return serve()
