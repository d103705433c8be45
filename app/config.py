"""Settings: every value from the environment (or `.env`), validated once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from strawberry.http.websocket_origin import normalize_allowed_origins

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
# Shared secrets a caller must present or that sign what callers send: production refuses the
# development defaults (public in this repository) and anything short enough to guess.
PRODUCTION_SECRETS = ("META_APP_SECRET", "META_VERIFY_TOKEN", "ADMIN_API_KEY",
                      "INSTAGRAM_APP_SECRET", "METRICS_TOKEN")
MIN_SECRET_CHARS = 16
DEV_META_APP_SECRET = "dev-app-secret"  # noqa: S105 - the public development default
DEV_META_VERIFY_TOKEN = "dev-verify-token"  # noqa: S105 - the public development default
DEVELOPMENT_DEFAULTS = frozenset({DEV_META_APP_SECRET, DEV_META_VERIFY_TOKEN, "dev-admin-key"})
# Files in DATA_DIR that hold keys; created readable by their owner only.
ENCRYPTION_KEY_FILE = "encryption.key"
ADMIN_KEY_FILE = "admin.key"


# Models an agent may use unless AGENT_MODELS says otherwise: current OpenAI models that the
# Responses API serves, the lead extraction's default among them.
DEFAULT_AGENT_MODELS = (
    "gpt-4.1,gpt-4.1-mini,gpt-4.1-nano,gpt-4o,gpt-4o-mini,gpt-5,gpt-5-mini,gpt-5-nano,o4-mini"
)


class ConfigError(Exception):
    """Raised with one human-readable message naming every invalid or missing setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Pages on these origins (comma-separated, e.g. a dashboard's dev server) may open the
    # GraphQL websocket; a page served by the API itself always may.
    dashboard_origins: str = ""
    # Behind a reverse proxy that rewrites Host, its X-Forwarded-Host names the host the browser
    # saw. Only a proxy can be trusted to set it, so it is off unless the deployment says so.
    trust_forwarded_host: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path(".data")

    database_url: str | None = None
    redis_url: str | None = None
    # Fixed-size pools (decision 10): an overflow connection opened under load and closed
    # again costs Postgres a forked backend and an authentication, more than the statement it
    # serves, and under load that churn was the API's collapse. Keep 0 unless the pool is
    # fronted by a pooler that makes connecting cheap.
    db_pool_size: int = Field(10, ge=1, le=500)
    db_max_overflow: int = Field(0, ge=0, le=500)
    db_pool_timeout_s: float = Field(5.0, gt=0, le=60)
    # Each worker's fixed pool. 10 was too few for 200 job slots on a busy machine: with the
    # event loop slowed, each transaction held its connection longer, and jobs timed out
    # waiting for one.
    worker_db_pool_size: int = Field(20, ge=1, le=500)
    redis_max_connections: int = Field(100, ge=4, le=10000)
    # Admission to the ingest endpoints (Meta webhook, widget message), per API process: this
    # many stores at once (0: DB_POOL_SIZE), at most INGEST_MAX_QUEUED more waiting, each at
    # most INGEST_MAX_WAIT_MS; everything past that gets 503 + Retry-After at once.
    ingest_concurrency: int = Field(0, ge=0, le=500)
    ingest_max_queued: int = Field(100, ge=0, le=100_000)
    ingest_max_wait_ms: int = Field(1000, ge=0, le=30_000)

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
    # GET /metrics on the API port answers only `Authorization: Bearer <METRICS_TOKEN>` when set;
    # unset, it is open outside production and not served (404) in production.
    metrics_token: str | None = None

    worker_concurrency: int = Field(200, ge=1, le=10000)
    # A worker serves Prometheus metrics on this port when set (the API serves GET /metrics on
    # its own port). Unset by default: two workers on one host would fight over one port.
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    ordering_scope: Literal["conversation", "channel"] = "conversation"
    queue_max_pending: int = Field(100_000, ge=1)
    # How long a webhook retries storing through a database outage before it answers 503:
    # well inside Meta's timeout, long enough for a restart or a failover.
    webhook_store_retry_s: float = Field(5.0, ge=0, le=15)
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
    # A web chat visitor may attach a JPEG, PNG or WebP image up to this size.
    widget_image_max_bytes: int = Field(5 * 1_048_576, ge=1024, le=20 * 1_048_576)
    # A visitor token unused this long is refused; each use renews it (see widget_guard).
    widget_token_ttl_hours: int = Field(720, ge=1, le=8760)
    graphql_rate_per_minute: int = Field(600, ge=1)
    # Metering: what a tenant may set on its agents. The platform pays the model, so a reply
    # never costs less than this, and only models the operator chose (and priced) can run.
    min_credits_per_reply: int = Field(1, ge=1, le=1_000_000)
    agent_models: str = DEFAULT_AGENT_MODELS
    # What one WhatsApp template message costs the tenant (Meta bills templates per message).
    template_credits: int = Field(1, ge=0, le=1_000_000)
    # Requests without a valid API key, per client address: they are counted before the key
    # is looked up, so guessing keys cannot cost a database read each.
    graphql_anon_rate_per_minute: int = Field(60, ge=1)
    # Rows an operation may ask for, computed before it runs (app/graphql/cost.py). The
    # largest documented dashboard operation costs about 1,100.
    graphql_max_cost: int = Field(20_000, ge=100)
    graphql_max_body_bytes: int = Field(1_048_576, ge=1024, le=50 * 1_048_576)
    max_api_keys_per_tenant: int = Field(20, ge=1, le=10_000)
    graphql_max_sockets_per_tenant: int = Field(50, ge=1, le=100_000)
    # Event webhooks to tenants' systems: how long a delivery is retried, when an endpoint
    # failing all along is disabled, and whether endpoints may be private addresses (unset:
    # only outside production, so tests and local receivers work).
    webhook_retry_for_s: int = Field(86_400, ge=1)
    webhook_disable_after_s: int = Field(86_400, ge=1)
    webhook_allow_private: bool | None = None
    # The first retry of a failed delivery waits this long; each next one twice as long (1 h max).
    webhook_backoff_base_s: float = Field(10.0, gt=0, le=3600)
    # Media customers send (app/media/): kept in MEDIA_STORE (`local`: files under
    # DATA_DIR/media; `s3`: an S3-compatible bucket, for several machines). No download is
    # ever larger than MEDIA_MAX_BYTES, whatever Meta's per-type limit allows.
    media_store: Literal["local", "s3"] = "local"
    media_max_bytes: int = Field(25 * 1_048_576, ge=1024, le=200 * 1_048_576)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # Voice notes and audio are transcribed with this OpenAI model.
    transcription_model: str = "gpt-4o-mini-transcribe"
    # How long a signed media link (Message.attachments.url) is valid.
    media_url_ttl_s: int = Field(300, ge=10, le=86_400)
    # Said when a message cannot be used and the agent sets no text of its own.
    media_fallback_text: str = Field(
        "Sorry, I couldn't open what you sent. Could you send it again or describe it in a "
        "message?", min_length=1, max_length=1000)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
            raise ValueError("must be a postgresql:// URL")
        return v

    @field_validator("s3_bucket")
    @classmethod
    def _check_s3_bucket(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("media_store") == "s3" and not v:
            raise ValueError("is required when MEDIA_STORE=s3")
        return v

    @field_validator("dashboard_origins")
    @classmethod
    def _check_origins(cls, v: str) -> str:
        normalize_allowed_origins(_split(v))
        return v

    @property
    def dashboard_origin_set(self) -> frozenset[str]:
        return normalize_allowed_origins(_split(self.dashboard_origins))

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return v

    @field_validator("agent_models")
    @classmethod
    def _check_agent_models(cls, v: str) -> str:
        models = [m.strip() for m in v.split(",") if m.strip()]
        if not models:
            raise ValueError("must name at least one model (comma-separated)")
        return ",".join(dict.fromkeys(models))

    @field_validator("app_encryption_key")
    @classmethod
    def _check_fernet(cls, v: str | None) -> str | None:
        if v:
            try:
                Fernet(v.encode())
            except ValueError as exc:
                raise ValueError("must be a Fernet key (32 url-safe base64-encoded bytes)") from exc
        return v

    # Field validators (not a model validator) so a weak secret is listed together with every
    # other invalid value: a model validator only runs once all fields are valid. BaseSettings
    # validates defaults, so an unset required value reaches this check too.
    @field_validator(*{n.lower() for n in PRODUCTION_REQUIRED + PRODUCTION_SECRETS})
    @classmethod
    def _production_values(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("app_env") != "production":
            return v
        name = (info.field_name or "").upper()
        if not v:
            if name in PRODUCTION_REQUIRED:
                raise ValueError("required when APP_ENV=production")
            return v
        if name in PRODUCTION_SECRETS:
            if v in DEVELOPMENT_DEFAULTS:
                raise ValueError("is the public development default; production needs a secret "
                                 "of its own")
            if len(v) < MIN_SECRET_CHARS:
                raise ValueError(f"is {len(v)} characters long; production needs at least "
                                 f"{MIN_SECRET_CHARS} (e.g. python -c \"import secrets; "
                                 "print(secrets.token_urlsafe(32))\")")
        return v

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
    def allowed_models(self) -> tuple[str, ...]:
        return tuple(self.agent_models.split(","))

    @property
    def webhooks_may_reach_private(self) -> bool:
        if self.webhook_allow_private is None:
            return not self.is_production
        return self.webhook_allow_private

    @property
    def encryption_key(self) -> str:
        """APP_ENCRYPTION_KEY; always set once start-up validation and development defaults ran."""
        if not self.app_encryption_key:
            raise ConfigError("APP_ENCRYPTION_KEY is not set")
        return self.app_encryption_key

    @property
    def sandbox_model(self) -> bool:
        """No OpenAI key: replies come from the built-in sandbox model."""
        return not self.openai_api_key

    def fill_development_defaults(self) -> None:
        """Give development safe local values for anything left unset.

        The admin and encryption keys are generated once per data folder and kept there (only
        the owner can read them): the admin key may create tenants and grant credits, so it is
        never a constant anyone could read in this repository.
        """
        if self.is_production:
            return
        self.meta_app_secret = self.meta_app_secret or DEV_META_APP_SECRET
        self.meta_verify_token = self.meta_verify_token or DEV_META_VERIFY_TOKEN
        if not self.admin_api_key:
            self.admin_api_key = _persistent_secret(self.data_dir / ADMIN_KEY_FILE,
                                                    lambda: "mca_admin_" + new_secret(32))
        if not self.app_encryption_key:
            # Kept on disk so tokens encrypted in one run can be read in the next.
            self.app_encryption_key = _persistent_secret(self.data_dir / ENCRYPTION_KEY_FILE,
                                                         lambda: Fernet.generate_key().decode())


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a key), creating its folder if needed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)  # an older file may have been created readable by others
        fh.write(text)


def _persistent_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept at `path`, generated on first use. Several processes of one `mca run`
    start at once: the file appears complete or not at all (written aside, then linked)."""
    with suppress(FileNotFoundError):
        if saved := path.read_text().strip():
            return saved
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(tmp, make())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process won the race: its key is the one
    finally:
        tmp.unlink()
    return path.read_text().strip()


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
