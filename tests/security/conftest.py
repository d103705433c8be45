from __future__ import annotations

from typing import Any

import pytest

from tests.live import LiveServer


@pytest.fixture
def second(serve: Any) -> LiveServer:
    """Another API process on the same Postgres and Redis (its own runtime and hub)."""
    server: LiveServer = serve()
    return server
