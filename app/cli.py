"""`mca`: one entry point for running, migrating and operating the platform."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from app.cli_ops import register as register_operator_commands
from app.config import ConfigError, Settings, get_settings

cli = typer.Typer(help="Multi-channel AI agent platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
tenant_cli = typer.Typer(help="Tenants.", no_args_is_help=True)
cli.add_typer(tenant_cli, name="tenant")
# apikey, credits, channel, simulate: app/cli_ops.py
register_operator_commands(cli)

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
    from app.devservers import start_services

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
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    cfg.attributes["database_url"] = settings.database_url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = with_services(load())
    try:
        migrate_database(settings)
    finally:
        stop_owned_services()
    typer.echo("database is at the latest migration")


@cli.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from app.graphql.schema import schema

    typer.echo(schema.as_str())


@tenant_cli.command("create")
def tenant_create(
    name: str = typer.Option(..., "--name"),
    credits: int = typer.Option(0, "--credits", min=0),
    as_json: bool = typer.Option(False, "--json", help="Print {tenant_id, api_key} as JSON."),
) -> None:
    """Create a tenant and its first API key (shown once)."""
    settings = with_services(load())

    async def go() -> tuple[str, str]:
        from app.db import create_engine, create_session_factory, transaction
        from app.tenants.service import create_tenant

        engine = create_engine(settings, pool_size=1)
        try:
            async with transaction(create_session_factory(engine)) as session:
                tenant, key = await create_tenant(session, name, credits)
                return str(tenant.id), key
        finally:
            await engine.dispose()

    from app.errors import DomainError

    try:
        tenant_id, key = run_async(go)
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        typer.echo(json.dumps({"tenant_id": tenant_id, "api_key": key}))
    else:
        typer.echo(f"tenant {tenant_id}\napi key (shown once): {key}")


def _serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from app.logs import configure_logging

    configure_logging(settings.log_level, json_logs=settings.is_production)
    uvicorn.run(
        "app.main:app_factory", factory=True, host=host or settings.host,
        port=port or settings.port, log_level=settings.log_level.lower(), access_log=False,
        proxy_headers=True, lifespan="on", ws="websockets-sansio",
        # Named rather than left to "auto", which falls back to asyncio when uvloop is missing.
        loop="uvloop", http="httptools",
    )


@cli.command()
def serve(
    host: str = typer.Option(None, "--host"), port: int = typer.Option(None, "--port")
) -> None:
    """Run the API server only."""
    settings = with_services(load())
    try:
        _serve(settings, host, port)
    finally:
        stop_owned_services()


@cli.command()
def worker() -> None:
    """Run one pipeline worker only."""
    settings = with_services(load())
    from app.logs import configure_logging
    from workers.main import run_worker

    configure_logging(settings.log_level, json_logs=settings.is_production)
    try:
        run_worker(settings)
    finally:
        stop_owned_services()


@cli.command()
def run() -> None:
    """Everything a developer needs: databases, migrations, a demo tenant, API and a worker."""
    from app.devrun import run_everything

    settings = load()
    try:
        run_everything(settings, with_services)
    finally:
        stop_owned_services()


@cli.command()
def bench(
    scenario: str = typer.Argument("all", help="ingest, e2e, faults, fanout, reads, or all"),
    quick: bool = typer.Option(False, "--quick", help="A few seconds per scenario (what the tests run)."),
) -> None:
    """Benchmarks: start everything, drive load from a separate process, print and save results."""
    # bench/ sits beside app/ in the checkout and is not part of the installed package.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        from bench.run import resolve
        from bench.run import run as run_bench
    except ImportError as exc:
        fail(f"the bench package is not importable ({exc}): run from a source checkout")
    try:
        names = resolve(scenario)
    except ValueError as exc:
        fail(str(exc), 2)
    run_bench(names, quick=quick)


def main() -> None:
    # SIGTERM behaves like Ctrl-C so every `finally` (and child shutdown) runs.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        cli()
    except KeyboardInterrupt:
        stop_owned_services()
        sys.exit(130)


__all__ = ["main", "subprocess", "time"]
