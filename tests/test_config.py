from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.config import ConfigError, Settings, asyncpg_url, load_settings


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("META_", "OPENAI_", "DATABASE_", "REDIS_", "ADMIN_", "APP_"))}
    env.update(extra)
    return env


def test_production_without_secrets_exits_with_one_readable_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "app", "serve"], env=_clean_env(APP_ENV="production"),
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "Invalid configuration" in proc.stderr
    for name in ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "META_APP_SECRET",
                 "META_VERIFY_TOKEN", "ADMIN_API_KEY", "APP_ENCRYPTION_KEY"):
        assert name in proc.stderr


def test_every_invalid_value_is_listed(monkeypatch):
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("REDIS_URL", "http://nope")
    monkeypatch.setenv("APP_ENCRYPTION_KEY", "short")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "PORT" in text and "REDIS_URL" in text and "APP_ENCRYPTION_KEY" in text


def test_development_gets_safe_defaults_and_a_persistent_key(tmp_path, monkeypatch):
    for k in ("META_APP_SECRET", "ADMIN_API_KEY", "APP_ENCRYPTION_KEY", "META_VERIFY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    first = load_settings()
    second = load_settings()
    assert first.app_encryption_key and first.app_encryption_key == second.app_encryption_key
    assert (tmp_path / "encryption.key").stat().st_mode & 0o077 == 0
    assert first.meta_app_secret and first.admin_api_key


def test_neon_url_is_translated_for_asyncpg():
    url, args = asyncpg_url(
        "postgresql://u:p@ep-cool-1-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require"
        "&channel_binding=require"
    )
    assert url.startswith("postgresql+asyncpg://u:p@ep-cool-1-pooler")
    assert "sslmode" not in url and "channel_binding" not in url
    assert args["ssl"] == "require"
    assert args["statement_cache_size"] == 0


def test_defaults(monkeypatch):
    for k in ("PORT", "QUEUE_MAX_PENDING", "META_GRAPH_API_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    s = Settings(_env_file=None)
    assert s.port == 8000
    assert s.queue_max_pending == 100_000
    assert s.meta_graph_api_base_url.startswith("https://graph.facebook.com/v")
