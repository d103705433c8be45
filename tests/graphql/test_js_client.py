"""documentation/examples/subscribe.mjs runs as written on Node.js with graphql-ws: it prints
events, resumes after the server went away without losing any, and stops on a refused key."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.graphql.helpers import seed_conversation
from tests.helpers import ROOT

EXAMPLE = ROOT / "documentation" / "examples" / "subscribe.mjs"


@pytest.fixture(scope="module")
def example_dir() -> Path:
    """The example beside the packages its header says to install."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    where = ROOT / ".data" / "js-example"
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "node_modules" / "graphql-ws").exists():
        (where / "package.json").write_text('{"private": true}')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "graphql-ws@6", "ws@8"],
                       cwd=where, check=True, capture_output=True, timeout=300)
    shutil.copy(EXAMPLE, where / EXAMPLE.name)
    return where


class Node:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def event(self, timeout: float = 15) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line, "the example exited"
        event: dict[str, Any] = json.loads(line)
        return event


@pytest.fixture
async def node(example_dir: Path) -> AsyncIterator[Any]:
    procs: list[asyncio.subprocess.Process] = []

    async def run(url: str, key: str) -> Node:
        proc = await asyncio.create_subprocess_exec(
            "node", str(example_dir / EXAMPLE.name), cwd=example_dir,
            env={**os.environ, "MCA_URL": url, "MCA_API_KEY": key},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        return Node(proc)

    yield run
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_events_resume_after_the_server_went_away(serve, node, rt, world):
    first = serve()
    client = await node(first.url, world.api_key)
    await first.wait_subscribers(1, timeout=15)
    await seed_conversation(rt, world, texts=("before",), publish=True)
    seen = await client.event()
    assert (seen["__typename"], seen["message"]["text"]) == ("MessageCreated", "before")

    port = int(first.url.rsplit(":", 1)[1])
    first.stop()
    # Committed while the client is cut off, published to nobody.
    second = serve(port=port)
    await seed_conversation(rt, world, texts=("missed",))
    texts = []
    while "missed" not in texts:
        event = await client.event(timeout=30)
        texts.append(event.get("message", {}).get("text"))
    # And it is live again afterwards.
    await second.wait_subscribers(1, timeout=15)
    await seed_conversation(rt, world, texts=("after",), publish=True)
    while "after" not in texts:
        texts.append((await client.event()).get("message", {}).get("text"))


async def test_a_refused_key_stops_the_client_instead_of_retrying(serve, node):
    client = await node(serve().url, "mca_not_a_key")
    assert await asyncio.wait_for(client.proc.wait(), 30) == 1
    assert client.proc.stderr is not None
    assert "refused: 4403" in (await client.proc.stderr.read()).decode()
