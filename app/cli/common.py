"""What every `mca` command shares: settings, failing with a message, the embedded servers
for one command's duration, running a coroutine, migrating."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from app.cli.devservers import start_services
from app.config import ConfigError, Settings, get_settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


_owned_services: list[Any] = []


def with_services(settings: Settings) -> Settings:
    """Fill DATABASE_URL / REDIS_URL from the embedded servers when they are unset.

    Joins the servers a running `mca run` started, or starts them for this command's duration.
    """
    if settings.database_url and settings.redis_url:
        return settings
    if settings.is_production:
        fail("DATABASE_URL and REDIS_URL are required in production", 2)
    services = start_services(settings.data_dir.resolve())
    if services.owned:
        _owned_services.append(services)
    settings.database_url = settings.database_url or services.database_url
    settings.redis_url = settings.redis_url or services.redis_url
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ["REDIS_URL"] = settings.redis_url
    return settings


def stop_owned_services() -> None:
    while _owned_services:
        _owned_services.pop().stop()


def run_async(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(fn())
    finally:
        stop_owned_services()


def migrate_database(settings: Settings) -> None:
    # Alembic is loaded only by the commands that migrate.
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).resolve().parents[2] / "alembic.ini"))
    cfg.attributes["database_url"] = settings.database_url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
