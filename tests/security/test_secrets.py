"""Weak secrets: production refuses the public development defaults and short secrets, and
development never falls back to a public admin key; files holding keys are owner-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import ADMIN_KEY_FILE, ConfigError, load_settings
from tests.graphql.helpers import codes, gql, ok

STRONG = "s3cret-" + "x" * 20
SECRETS = ("META_APP_SECRET", "META_VERIFY_TOKEN", "ADMIN_API_KEY", "INSTAGRAM_APP_SECRET",
           "METRICS_TOKEN")


def _production(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """A production environment that is complete and strong, but for `values`."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example/mca")
    monkeypatch.setenv("REDIS_URL", "rediss://cache.example:6379/0")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("APP_ENCRYPTION_KEY", Fernet.generate_key().decode())
    for name in SECRETS:
        monkeypatch.setenv(name, STRONG)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _problems(err: ConfigError) -> dict[str, str]:
    lines = [line.removeprefix("  - ") for line in str(err).splitlines()[1:]]
    return dict(line.split(": ", 1) for line in lines)


def test_production_accepts_strong_secrets(monkeypatch):
    _production(monkeypatch)
    settings = load_settings()
    assert settings.admin_api_key == STRONG and settings.meta_app_secret == STRONG


def test_production_lists_every_weak_secret_and_other_problem_in_one_message(monkeypatch):
    _production(monkeypatch, ADMIN_API_KEY="a", META_APP_SECRET="dev-app-secret",
                META_VERIFY_TOKEN="dev-verify-token", INSTAGRAM_APP_SECRET="short",
                METRICS_TOKEN="123456789012345", PORT="not-a-port")
    with pytest.raises(ConfigError) as err:
        load_settings()
    problems = _problems(err.value)
    assert set(problems) == {"ADMIN_API_KEY", "META_APP_SECRET", "META_VERIFY_TOKEN",
                             "INSTAGRAM_APP_SECRET", "METRICS_TOKEN", "PORT"}, problems
    assert "1 characters long" in problems["ADMIN_API_KEY"]
    assert "at least 16" in problems["METRICS_TOKEN"]
    assert "development default" in problems["META_APP_SECRET"]
    assert "development default" in problems["META_VERIFY_TOKEN"]


def test_production_refuses_the_old_public_admin_key(monkeypatch):
    _production(monkeypatch, ADMIN_API_KEY="dev-admin-key")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "development default" in _problems(err.value)["ADMIN_API_KEY"]


def test_optional_secrets_left_empty_are_not_weak(monkeypatch):
    # .env.example leaves INSTAGRAM_APP_SECRET empty; that means "not used", not "too short".
    _production(monkeypatch, INSTAGRAM_APP_SECRET="", METRICS_TOKEN="")
    assert load_settings().instagram_app_secret == ""


def test_mca_refuses_to_start_with_weak_production_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("META_", "OPENAI_", "DATABASE_", "REDIS_", "ADMIN_", "APP_"))}
    env.update(APP_ENV="production", ADMIN_API_KEY="a", META_APP_SECRET="dev-app-secret")
    proc = subprocess.run([sys.executable, "-m", "app", "serve"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "ADMIN_API_KEY: is 1 characters long" in proc.stderr
    assert "META_APP_SECRET: is the public development default" in proc.stderr


def _development(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name in ("ADMIN_API_KEY", "APP_ENCRYPTION_KEY", "META_APP_SECRET", "META_VERIFY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATA_DIR", str(data_dir))


def test_development_admin_key_is_generated_once_per_data_folder(tmp_path, monkeypatch):
    _development(monkeypatch, tmp_path / "one")
    first, again = load_settings().admin_api_key, load_settings().admin_api_key
    assert first and first == again
    assert first != "dev-admin-key" and len(first) >= 32
    assert (tmp_path / "one" / ADMIN_KEY_FILE).read_text() == first
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "two"))
    assert load_settings().admin_api_key not in (None, first)
    for name in (ADMIN_KEY_FILE, "encryption.key"):
        assert (tmp_path / "one" / name).stat().st_mode & 0o777 == 0o600, name
    assert (tmp_path / "one").stat().st_mode & 0o077 == 0


async def test_the_public_constant_no_longer_opens_admin_operations(tmp_path, monkeypatch,
                                                                    clean):
    from app.main import create_app

    _development(monkeypatch, tmp_path)
    settings = load_settings()
    app = create_app(settings)
    create = 'mutation { createTenant(name: "Nova") { tenant { name } } }'
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert codes(await gql(client, create, key="dev-admin-key")) == ["UNAUTHENTICATED"]
            body = ok(await gql(client, create, key=settings.admin_api_key))
            assert body["createTenant"]["tenant"]["name"] == "Nova"


async def test_demo_state_holding_a_key_is_owner_only(tmp_path, settings: Any, clean):
    from app.cli.devrun import seed_demo

    data_dir = tmp_path / "fresh"  # does not exist yet
    dev = settings.model_copy(update={"data_dir": data_dir})
    demo = await seed_demo(dev)
    state = data_dir / "demo.json"
    assert json.loads(state.read_text())["api_key"] == demo["api_key"]
    assert state.stat().st_mode & 0o777 == 0o600
    # A file an older version left readable by everyone is tightened on the next run.
    state.chmod(0o644)
    await seed_demo(dev)
    assert state.stat().st_mode & 0o777 == 0o600
