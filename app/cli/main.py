"""`mca`: one entry point for running, migrating and operating the platform."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from app.cli.common import fail, load, migrate_database, run_async, stop_owned_services, with_services
from app.cli.ops import register as register_operator_commands
from app.config import Settings

cli = typer.Typer(help="Multi-channel AI agent platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
tenant_cli = typer.Typer(help="Tenants.", no_args_is_help=True)
cli.add_typer(tenant_cli, name="tenant")
# apikey, credits, channel, simulate: app/cli/ops.py
register_operator_commands(cli)


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
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
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
        # Loaded when the command runs, so `mca --help` and the other commands start without it.
        from app.db import create_engine, create_session_factory, transaction
        from app.tenants.service import create_tenant

        engine = create_engine(settings, pool_size=1)
        try:
            async with transaction(create_session_factory(engine)) as session:
                tenant, key = await create_tenant(session, name, credits)
                return str(tenant.id), key
        finally:
            await engine.dispose()

    # Loaded when the command runs, so `mca --help` and the other commands start without it.
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
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
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
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
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
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    from app.cli.devrun import run_everything

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
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        # Only in a source checkout, so loaded when the command runs.
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
