from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, make_world
from tests.live import LiveServer


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
def second(serve: Any) -> LiveServer:
    """Another API process on the same Postgres and Redis (its own runtime and hub)."""
    server: LiveServer = serve()
    return server
