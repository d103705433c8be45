from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, make_world


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

