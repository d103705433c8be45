"""Settings: every value from the environment (or `.env`), validated once at start-up."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that production must be given explicitly; development invents safe local values.
PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "ADMIN_API_KEY",
    "APP_ENCRYPTION_KEY",
)


class ConfigError(Exception):
    """Raised with one human-readable message naming every invalid or missing setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path(".data")

    database_url: str | None = None
    redis_url: str | None = None
    db_pool_size: int = Field(10, ge=1, le=500)
    db_max_overflow: int = Field(10, ge=0, le=500)
    redis_max_connections: int = Field(100, ge=4, le=10000)

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_timeout_s: float = Field(30.0, gt=0)
    openai_max_retries: int = Field(2, ge=0, le=10)

    meta_app_secret: str | None = None
    meta_verify_token: str | None = None
    # Instagram-Login apps may sign webhooks with the Instagram app secret instead.
    instagram_app_secret: str | None = None
    meta_graph_api_base_url: str = "https://graph.facebook.com/v25.0"
    instagram_graph_api_base_url: str = "https://graph.instagram.com/v25.0"
    graph_timeout_s: float = Field(10.0, gt=0)

    admin_api_key: str | None = None
    app_encryption_key: str | None = None

    worker_concurrency: int = Field(200, ge=1, le=10000)
    # A worker serves Prometheus metrics on this port when set (the API serves GET /metrics on
    # its own port). Unset by default: two workers on one host would fight over one port.
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    ordering_scope: Literal["conversation", "channel"] = "conversation"
    queue_max_pending: int = Field(100_000, ge=1)
    # Bounds how long a dead worker's conversations wait: lease lapse + one sweep.
    lock_ttl_ms: int = Field(10_000, ge=1000)
    sweeper_interval_s: int = Field(2, ge=1, le=60)
    sweeper_min_age_s: float = Field(2.0, ge=0)
    cache_ttl_s: int = Field(300, ge=1, le=3600)
    # Attempts per send for transient Graph errors (throughput, pair rate, 5xx).
    send_retry_max: int = Field(3, ge=1, le=50)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_s: float = Field(30.0, gt=0)
    context_ttl_days: int = Field(21, ge=1)
    extraction_idle_minutes: int = Field(5, ge=1, le=15)
    widget_rate_per_minute: int = Field(20, ge=1)
    widget_max_message_chars: int = Field(2000, ge=1, le=4096)
    graphql_rate_per_minute: int = Field(600, ge=1)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
            raise ValueError("must be a postgresql:// URL")
        return v

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return v

    @field_validator("app_encryption_key")
    @classmethod
    def _check_fernet(cls, v: str | None) -> str | None:
        if v:
            try:
                Fernet(v.encode())
            except ValueError as exc:
                raise ValueError("must be a Fernet key (32 url-safe base64-encoded bytes)") from exc
        return v

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.app_env == "production":
            missing = [n for n in PRODUCTION_REQUIRED if not getattr(self, n.lower())]
            if missing:
                raise ValueError("APP_ENV=production requires " + ", ".join(missing))
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    def required(self, name: str) -> str:
        """A setting the caller cannot work without: start-up validation (production) or the
        development defaults fill it in, so only a hand-built Settings can lack it."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"Invalid configuration:\n  - {name.upper()}: is required")
        return str(value)

    @property
    def sandbox_model(self) -> bool:
        """No OpenAI key: replies come from the built-in sandbox model."""
        return not self.openai_api_key

    def fill_development_defaults(self) -> None:
        """Give development safe local values for anything left unset."""
        if self.is_production:
            return
        self.meta_app_secret = self.meta_app_secret or "dev-app-secret"
        self.meta_verify_token = self.meta_verify_token or "dev-verify-token"
        self.admin_api_key = self.admin_api_key or "dev-admin-key"
        if not self.app_encryption_key:
            self.app_encryption_key = _persistent_dev_key(self.data_dir / "encryption.key")


def _persistent_dev_key(path: Path) -> str:
    # Kept on disk so tokens encrypted in one run can be read in the next.
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def asyncpg_url(url: str) -> tuple[str, dict[str, object]]:
    """Turn a libpq URL (as Neon hands it out) into a SQLAlchemy asyncpg URL and connect args.

    asyncpg does not understand libpq's `sslmode` / `channel_binding` query parameters.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    connect_args: dict[str, object] = {}
    sslmode = query.pop("sslmode", None)
    query.pop("channel_binding", None)
    if sslmode and sslmode not in {"disable", "allow"}:
        connect_args["ssl"] = "require" if sslmode in {"require", "prefer"} else True
    # Poolers in transaction mode (Neon's "-pooler" hosts, PgBouncer) break prepared statements.
    if "-pooler" in (parts.hostname or "") or query.pop("pgbouncer", None) == "true":
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
    scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), "")), connect_args


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p).upper() for p in err["loc"]) or "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    settings.fill_development_defaults()
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def new_secret(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
