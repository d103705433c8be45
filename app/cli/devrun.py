"""`mca run`: the whole platform on one machine, with nothing installed but Python."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer

from app.cli.common import migrate_database
from app.config import Settings, write_private

DEMO_USER_ID = "demo"


async def seed_demo(settings: Settings) -> dict[str, str]:
    """A demo tenant with a web chat channel and an agent; idempotent across runs."""
    # Loaded when the command runs, so `mca --help` and the other commands start without it.
    from sqlalchemy import select

    from app.agents.service import create_agent
    from app.channels.service import create_channel
    from app.db import create_engine, create_session_factory, transaction
    from app.models import Agent, Channel, Tenant
    from app.tenants.service import create_api_key, create_tenant

    state_file = settings.data_dir / "demo.json"
    saved: dict[str, str] = json.loads(state_file.read_text()) if state_file.exists() else {}
    engine = create_engine(settings, pool_size=1)
    try:
        async with transaction(create_session_factory(engine)) as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.user_id == DEMO_USER_ID))
            if tenant is None:
                tenant, key = await create_tenant(session, "Demo business", 1000, DEMO_USER_ID)
                saved = {"api_key": key}
            elif not saved.get("api_key"):
                _, saved["api_key"] = await create_api_key(session, tenant.id, "demo")
            channel = await session.scalar(
                select(Channel).where(Channel.tenant_id == tenant.id, Channel.kind == "webchat",
                                      Channel.deleted_at.is_(None))
            )
            if channel is None:
                channel = await create_channel(
                    session, settings, tenant.id, kind="webchat", provider_account_id=None,
                    access_token=None, display_name="Demo web chat",
                    options={"allowed_origins": [f"http://{settings.host}:{settings.port}",
                                                 f"http://localhost:{settings.port}"]},
                )
            agent = await session.scalar(
                select(Agent).where(Agent.channel_id == channel.id, Agent.deleted_at.is_(None))
            )
            if agent is None:
                await create_agent(
                    session, settings, tenant.id, channel_id=channel.id, name="Demo agent",
                    model="gpt-4.1-mini", credits_per_reply=1,
                    instructions="You are a friendly sales assistant. Answer briefly.",
                )
            saved.update(tenant_id=str(tenant.id), channel_public_id=channel.provider_account_id)
    finally:
        await engine.dispose()
    # Holds the demo API key. The data folder may not exist yet: with DATABASE_URL, REDIS_URL
    # and the keys all set, nothing else has needed it.
    write_private(state_file, json.dumps(saved))
    return saved


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=os.environ.copy())


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a process exited during start-up; see the log above")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url}/readyz did not answer 200 within {timeout:.0f}s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# A child that dies is started again after 1, 2, 4, ... s (at most 30 s); one that then ran
# for a minute starts afresh from 1 s.
RESTART_BASE_S = 1.0
RESTART_CAP_S = 30.0
STABLE_AFTER_S = 60.0


@dataclass
class Child:
    """One supervised `mca` child process (the API, a worker)."""

    name: str
    args: list[str]
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    failures: int = 0
    restart_at: float | None = None


def supervise(
    children: list[Child],
    *,
    until: Callable[[], bool] = lambda: False,
    spawn: Callable[[list[str]], subprocess.Popen[bytes]] = _spawn,
    base_s: float = RESTART_BASE_S,
    cap_s: float = RESTART_CAP_S,
    tick_s: float = 0.5,
) -> None:
    """Keep the children running until `until()` (or Ctrl-C): a child that exits, whatever
    the reason, is started again with backoff, and each exit and restart is said on stderr."""
    while not until():
        now = time.monotonic()
        for c in children:
            code = c.proc.poll()
            if code is None:
                if c.failures and now - c.started >= STABLE_AFTER_S:
                    c.failures = 0
                continue
            if c.restart_at is None:
                delay = min(cap_s, base_s * 2 ** min(c.failures, 16))
                c.failures += 1
                c.restart_at = now + delay
                typer.echo(f"mca {c.name} exited with code {code}; restarting it in {delay:.3g}s",
                           err=True)
            elif now >= c.restart_at:
                c.proc = spawn(c.args)
                c.started, c.restart_at = now, None
                typer.echo(f"mca {c.name} restarted (pid {c.proc.pid})", err=True)
        time.sleep(tick_s)


def run_everything(settings: Settings, with_services: Callable[[Settings], Settings]) -> None:

    settings = with_services(settings)
    typer.echo("migrating the database ...")
    migrate_database(settings)
    sandbox: Any = None
    if settings.sandbox_model and not settings.openai_base_url:
        # The sandbox model is loaded only when it answers (no OPENAI_API_KEY).
        from app.sandbox.fake_openai import create_app
        from app.sandbox.server import run_in_thread

        sandbox = run_in_thread(create_app(latency_ms=400))
        os.environ["OPENAI_BASE_URL"] = sandbox.url + "/v1"
        typer.echo(f"OPENAI_API_KEY is not set: replies come from the SANDBOX model ({sandbox.url})")
    demo = asyncio.run(seed_demo(settings))
    base = f"http://{settings.host}:{settings.port}"
    children = [Child("serve", ["serve"], _spawn(["serve"])),
                Child("worker", ["worker"], _spawn(["worker"]))]
    try:
        _wait_ready(base, [c.proc for c in children])
        typer.echo(
            "\nready\n"
            f"  API          {base}\n"
            f"  GraphQL      {base}/graphql\n"
            f"  Console      {base}/console\n"
            f"  Demo page    {base}/demo?channel={demo['channel_public_id']}\n"
            f"  Meta webhook {base}/webhooks/meta\n"
            f"  Demo API key {demo['api_key']}\n"
            f"  Admin key    {settings.admin_api_key}\n"
            "Ctrl-C stops everything.\n"
        )
        supervise(children)
    finally:
        _stop([c.proc for c in children])
        if sandbox is not None:
            sandbox.stop()
