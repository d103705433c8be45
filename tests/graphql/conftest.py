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
    """A second tenant, who must never see or touch the first one's objects."""
    return await make_world(rt, name="Intruder")


@pytest.fixture
def live(settings: Any, clean: None) -> Iterator[LiveApp]:
    from app.main import create_app

    server = LiveApp(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()
