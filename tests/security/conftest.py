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
