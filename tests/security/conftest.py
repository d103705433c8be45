from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import World, make_world
from tests.graphql.helpers import LiveApp


@pytest.fixture
def rt(app: Any) -> Any:
    return app.state.runtime


@pytest.fixture
async def world(rt: Any) -> World:
    return await make_world(rt, name="Acme")


@pytest.fixture
async def other(rt: Any) -> World:
    """A second tenant, hostile to the first."""
    return await make_world(rt, name="Intruder")


@pytest.fixture
def live(settings: Any, clean: None) -> Iterator[LiveApp]:
    from app.main import create_app

    server = LiveApp(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def second(settings: Any, clean: None) -> Iterator[LiveApp]:
    """Another API process on the same Postgres and Redis (its own runtime and hub)."""
    from app.main import create_app

    server = LiveApp(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()
