"""Real errors, not asserts, for what configuration or a missing row can cause."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings
from app.errors import MissingRow, present


def test_a_required_setting_that_is_missing_is_a_configuration_error():
    settings = Settings(_env_file=None, redis_url=None, app_encryption_key=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="REDIS_URL: is required"):
        settings.required("redis_url")
    with pytest.raises(ConfigError, match="APP_ENCRYPTION_KEY: is required"):
        settings.required("app_encryption_key")
    given = Settings(_env_file=None, redis_url="redis://cache:6379/0")  # type: ignore[call-arg]
    assert given.required("redis_url") == "redis://cache:6379/0"


def test_present_returns_the_row_and_names_a_missing_one():
    row = object()
    assert present(row, "channel") is row
    with pytest.raises(MissingRow, match="channel is missing"):
        present(None, "channel")
