"""The unit layer: pure functions, no servers. It runs first (see tests/conftest.py), so a
broken parser or splitter fails in seconds, before PostgreSQL and Redis have started.

The suite-wide autouse `test_env` starts those servers; here it is replaced by an empty
environment, and asking for a server is an error rather than a slow surprise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def test_env() -> Iterator[dict[str, str]]:
    yield {}


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    raise pytest.UsageError("a unit test asked for PostgreSQL/Redis: move it out of tests/unit")


@pytest.fixture(scope="session")
def fakes() -> dict[str, str]:
    raise pytest.UsageError("a unit test asked for the fake servers: move it out of tests/unit")
