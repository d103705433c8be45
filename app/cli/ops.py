"""Operator commands of `mca`: API keys, credits, channels, and a webhook simulator.

Registered on the main app by `app.cli.main`; the shared helpers (settings, embedded services,
`fail`) come from `app.cli.common`, and each command imports what it runs when it runs.
Every expected failure ends as one `error: ...` line on stderr and a non-zero exit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli.common import fail, load, run_async, with_services
from app.config import Settings

T = TypeVar("T")

apikey_cli = typer.Typer(help="Tenant API keys.", no_args_is_help=True)
credits_cli = typer.Typer(help="Tenant credits.", no_args_is_help=True)
channel_cli = typer.Typer(help="Connected channels.", no_args_is_help=True)
simulate_cli = typer.Typer(help="Send a simulated inbound message to a running server.",
                           no_args_is_help=True)


def register(cli: typer.Typer) -> None:
    cli.add_typer(apikey_cli, name="apikey")
    cli.add_typer(credits_cli, name="credits")
    cli.add_typer(channel_cli, name="channel")
    cli.add_typer(simulate_cli, name="simulate")


def _fail(message: str) -> NoReturn:

    fail(message)
    raise AssertionError("unreachable")  # fail() always raises typer.Exit


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        _fail(f"{what} must be a UUID, got {value!r}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _run_in_transaction(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `fn` in one committed transaction, then publish its events (live dashboards)."""
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    from arq import create_pool
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import create_engine, create_session_factory, transaction
    from app.effects import flush, take
    from app.errors import DomainError
    from app.redis import redis_settings

    async def go() -> T:
        engine = create_engine(settings, pool_size=1)
        try:
            async with transaction(create_session_factory(engine)) as session:
                result = await fn(session)
        finally:
            await engine.dispose()
        effects = take(session)
        if effects:
            try:
                redis = await create_pool(redis_settings(settings))
                try:
                    await flush(effects, redis)
                finally:
                    await redis.aclose()
            except (OSError, ConnectionError) as exc:
                # The change is committed; only the live notification is lost.
                typer.echo(f"warning: saved, but dashboards were not notified: {exc}", err=True)
        return result

    try:
        return run_async(go)
    except DomainError as exc:
        _fail(exc.message)
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"database: {_first_line(exc)}")


def _db_settings() -> Settings:

    return with_services(load())


# -- apikey ----------------------------------------------------------------------------------


@apikey_cli.command("create")
def apikey_create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. 'dashboard'."),
    as_json: bool = typer.Option(False, "--json", help="Print {id, tenant_id, name, api_key}."),
) -> None:
    """Create an API key for a tenant. The key is shown once and never stored in clear."""
    tenant_id = _uuid(tenant, "--tenant")
    if not name.strip():
        _fail("--name must not be empty")

    settings = _db_settings()

    async def create(session: AsyncSession) -> tuple[str, str]:
        # Loaded when the command runs, so `mca --help` and the other commands start without it.
        from app.tenants.service import create_api_key

        row, plain = await create_api_key(session, tenant_id, name.strip(),
                                          max_keys=settings.max_api_keys_per_tenant)
        return str(row.id), plain

    key_id, plain = _run_in_transaction(settings, create)
    if as_json:
        typer.echo(json.dumps({"id": key_id, "tenant_id": str(tenant_id), "name": name.strip(),
                               "api_key": plain}))
    else:
        typer.echo(f"api key {key_id} ({name.strip()}) for tenant {tenant_id}\n"
                   f"key (shown once): {plain}")


@apikey_cli.command("revoke")
def apikey_revoke(
    key_id: str = typer.Argument(..., metavar="ID", help="The API key's id (not the key)."),
) -> None:
    """Revoke an API key; requests with it fail from now on, and the API closes the websockets
    it opened (the notice travels over Redis, like a live event)."""
    kid = _uuid(key_id, "ID")

    async def revoke(session: AsyncSession) -> bool:
        # Loaded when the command runs, so `mca --help` and the other commands start without it.
        from app.tenants.service import revoke_api_key

        return await revoke_api_key(session, None, kid)

    if not _run_in_transaction(_db_settings(), revoke):
        _fail(f"api key {kid} not found or already revoked")
    typer.echo(f"api key {kid} revoked")


# -- credits ---------------------------------------------------------------------------------


@credits_cli.command("grant")
def credits_grant(
    tenant: str = typer.Argument(..., metavar="TENANT", help="Tenant id."),
    amount: int = typer.Argument(..., metavar="AMOUNT", help="Credits to add (positive)."),
    reason: str = typer.Option(..., "--reason", help="Why; kept in the ledger."),
) -> None:
    """Add credits to a tenant (an append-only ledger entry)."""
    tenant_id = _uuid(tenant, "TENANT")
    if amount <= 0:
        _fail("AMOUNT must be a positive number of credits")
    if not reason.strip():
        _fail("--reason must not be empty")

    async def grant(session: AsyncSession) -> int:
        # Loaded when the command runs, so `mca --help` and the other commands start without it.
        from app.credits.service import grant

        return await grant(session, tenant_id, amount, f"cli: {reason.strip()}")

    balance = _run_in_transaction(_db_settings(), grant)
    typer.echo(f"granted {amount} credits to tenant {tenant_id}; balance {balance}")


# -- channel ---------------------------------------------------------------------------------


@channel_cli.command("list")
def channel_list(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's channels."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Live channels with their agents. Access tokens are never shown."""
    tenant_id = _uuid(tenant, "--tenant") if tenant is not None else None

    async def fetch(session: AsyncSession) -> list[dict[str, Any]]:
        return await _channel_rows(session, tenant_id)

    channels = _run_in_transaction(_db_settings(), fetch)
    if as_json:
        typer.echo(json.dumps(channels, indent=2))
        return
    if not channels:
        typer.echo("no channels" + (f" for tenant {tenant_id}" if tenant_id else ""))
        return
    _print_channels(channels)


async def _channel_rows(session: AsyncSession, tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    from sqlalchemy import select

    from app.models import Agent, Channel, Tenant

    # Columns chosen one by one: the encrypted token is never even read.
    q = (
        select(Channel.id, Channel.tenant_id, Tenant.name, Channel.kind,
               Channel.provider_account_id, Channel.display_name, Channel.status,
               Channel.created_at, Agent.name, Agent.model)
        .join(Tenant, Tenant.id == Channel.tenant_id)
        .outerjoin(Agent, (Agent.channel_id == Channel.id) & Agent.deleted_at.is_(None))
        .where(Channel.deleted_at.is_(None))
        .order_by(Tenant.name, Channel.created_at, Channel.id)
    )
    if tenant_id is not None:
        q = q.where(Channel.tenant_id == tenant_id)
    keys = ("id", "tenant_id", "tenant", "kind", "provider_account_id", "display_name",
            "status", "created_at", "agent", "model")
    out = []
    for row in (await session.execute(q)).all():
        item = dict(zip(keys, row, strict=True))
        item["id"], item["tenant_id"] = str(item["id"]), str(item["tenant_id"])
        item["created_at"] = item["created_at"].isoformat()
        out.append(item)
    return out


def _print_channels(channels: list[dict[str, Any]]) -> None:
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(channels)} channel(s)")
    for header in ("Channel id", "Tenant", "Tenant id", "Kind", "Account", "Name", "Status",
                   "Agent"):
        table.add_column(header, no_wrap=header in ("Channel id", "Tenant id", "Account"))
    for c in channels:
        # A prompt-only agent has no model of its own: its dashboard prompt names one.
        agent = f"{c['agent']} ({c['model'] or 'prompt'})" if c["agent"] else "-"
        table.add_row(c["id"], c["tenant"], c["tenant_id"], c["kind"], c["provider_account_id"],
                      c["display_name"] or "-", c["status"], agent)
    # Piped output (grep, a file) gets full-width lines instead of an 80-column wrap.
    Console(width=None if sys.stdout.isatty() else 260).print(table)


# -- simulate --------------------------------------------------------------------------------


def whatsapp_payload(account: str, sender: str, text: str, name: str,
                     content: dict[str, Any] | None = None) -> dict[str, Any]:
    """An inbound message in the shape Meta's WhatsApp Cloud API posts it: text, or `content`
    ({"type": ..., <type>: {...}}) for media and locations."""
    message = {"from": sender, "id": f"wamid.SIM{uuid.uuid4().hex}",
               "timestamp": str(int(time.time())),
               **(content or {"type": "text", "text": {"body": text}})}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": sender, "phone_number_id": account},
        "contacts": [{"profile": {"name": name}, "wa_id": sender}],
        "messages": [message],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "SIMULATED", "changes": [{"field": "messages", "value": value}]}]}


def _default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _location(spec: str) -> dict[str, Any]:
    parts = [p.strip() for p in spec.split(",", 2)]
    try:
        loc: dict[str, Any] = {"latitude": float(parts[0]), "longitude": float(parts[1])}
    except (ValueError, IndexError):
        _fail(f"--location must be LAT,LON[,NAME], got {spec!r}")
    if len(parts) > 2 and parts[2]:
        loc["name"] = parts[2]
    return {"type": "location", "location": loc}


def _media(settings: Settings, graph: str | None, kind: str, path: str,
           caption: str) -> dict[str, Any]:
    """Hand the file to the fake Graph server (what the worker downloads it from) and describe
    it as Meta does: a media id, its type and SHA-256."""
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    import httpx

    file = Path(path)
    if not file.is_file():
        _fail(f"no such file: {path}")
    data = file.read_bytes()
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if kind == "voice":
        mime = "audio/ogg"
    media_id = f"SIM{uuid.uuid4().int % 10**15}"
    root = (graph or settings.meta_graph_api_base_url.rstrip("/").rsplit("/", 1)[0]).rstrip("/")
    try:
        r = httpx.post(f"{root}/_fake/media", timeout=10.0, json={
            "media_id": media_id, "mime_type": mime, "data_b64": base64.b64encode(data).decode()})
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the fake Graph server at {root}: {_first_line(exc) or exc}")
    if r.status_code != 200:
        _fail(f"{root} is not the fake Graph server (python -m app.sandbox graph): "
              f"HTTP {r.status_code}")
    mtype = "audio" if kind == "voice" else kind
    media: dict[str, Any] = {"id": media_id, "mime_type": mime,
                             "sha256": hashlib.sha256(data).hexdigest()}
    if kind == "voice":
        media["voice"] = True
    if kind == "document":
        media["filename"] = file.name
    if caption and kind in ("image", "document"):
        media["caption"] = caption
    return {"type": mtype, mtype: media}


@simulate_cli.command("whatsapp")
def simulate_whatsapp(
    text: str = typer.Argument("", metavar="TEXT",
                                help="What the customer writes (a caption with a file)."),
    channel: str = typer.Option(..., "--channel", help="The channel's phone_number_id."),
    sender: str = typer.Option(..., "--from", help="The customer's number, e.g. 5215512345678."),
    name: str = typer.Option("Simulated customer", "--name", help="The customer's profile name."),
    url: str | None = typer.Option(None, "--url", help="Server base URL (default: HOST:PORT)."),
    image: str | None = typer.Option(None, "--image", help="Send this picture file."),
    voice: str | None = typer.Option(None, "--voice", help="Send this file as a voice note."),
    document: str | None = typer.Option(None, "--document", help="Send this file (a PDF, ...)."),
    location: str | None = typer.Option(None, "--location", help="Share LAT,LON[,NAME]."),
    graph: str | None = typer.Option(None, "--graph", help=(
        "The fake Graph server that serves the file (default: META_GRAPH_API_BASE_URL's host).")),
) -> None:
    """Post a correctly signed WhatsApp webhook (META_APP_SECRET) to a running server: text,
    or a file served by the fake Graph server (python -m app.sandbox graph), or a location."""
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    import httpx

    settings = load()
    number = sender.strip().lstrip("+").replace(" ", "")
    if not number.isdigit():
        _fail(f"--from must be a phone number (digits only), got {sender!r}")
    files = {k: v for k, v in (("image", image), ("voice", voice), ("document", document)) if v}
    if len(files) + (location is not None) > 1:
        _fail("send one of --image, --voice, --document, --location at a time")
    if not text.strip() and not files and location is None:
        _fail("TEXT must not be empty")
    if not settings.meta_app_secret:
        _fail("META_APP_SECRET is not set, so the webhook cannot be signed")
    content = None
    if location is not None:
        content = _location(location)
    for kind, path in files.items():
        content = _media(settings, graph, kind, path, text.strip())
    # Signed over exactly the bytes sent, ASCII-escaped as Meta sends them.
    raw = json.dumps(whatsapp_payload(channel.strip(), number, text, name, content),
                     ensure_ascii=True).encode()
    signature = hmac.new(settings.meta_app_secret.encode(), raw, hashlib.sha256).hexdigest()
    endpoint = (url or _default_url(settings)).rstrip("/") + "/webhooks/meta"
    try:
        r = httpx.post(endpoint, content=raw, timeout=10.0, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"})
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {endpoint}: {_first_line(exc) or type(exc).__name__}")
    body = r.text.strip()
    if r.status_code != 200:
        _fail(f"{endpoint} answered {r.status_code}: {body[:500]}")
    typer.echo(f"HTTP {r.status_code} {body}")
    try:
        counts = r.json()
    except ValueError:
        counts = {}
    if isinstance(counts, dict) and counts.get("unknown_channel"):
        _fail(f"no live WhatsApp channel has phone_number_id {channel.strip()!r}; "
              "the server ignored the message (see `mca channel list`)")
