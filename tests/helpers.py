"""What every kind of test needs besides fixtures: waiting for a condition, reading rows from
outside the app, stopping an in-process worker, running `mca` commands as processes. (Fixtures
live in conftest.py; helpers here, so tests import them from a module of their own, never from
a conftest.)"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import asyncpg
import httpx

from app.pipeline.sweeper import SWEEP_LOCK

_T = TypeVar("_T")

ROOT = Path(__file__).resolve().parent.parent


def new_id() -> str:
    return uuid.uuid4().hex


def free_port() -> int:
    """A local port nothing listens on (free when asked; a test may also use it as a closed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(
    predicate: Callable[[], Any | Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll a predicate (plain or async) until it returns something truthy; that value.

    The timeout only bounds a failure: a passing test waits no longer than its condition takes,
    so it is generous enough for a machine running two suites at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


async def in_one_window(
    burst: Callable[[int], Awaitable[_T]], window_s: int, attempts: int = 3
) -> _T:
    """`burst(attempt)`'s result from a run that started and ended in one fixed rate window
    (whole multiples of `window_s` seconds since the epoch, as the limiters count them).

    A run that straddles a boundary is counted in two windows, so it proves nothing, and an
    assertion it failed is set aside: the next attempt waits for the window after the one
    its tail was counted in and runs again. An assertion failed within one window fails the
    test. A loaded machine can make a burst slow; it cannot make it pass or fail by chance."""
    for attempt in range(attempts):
        started = time.time()
        try:
            result = await burst(attempt)
        except AssertionError:
            if int(started) // window_s == int(time.time()) // window_s:
                raise
        else:
            if int(started) // window_s == int(time.time()) // window_s:
                return result
        await asyncio.sleep(window_s - time.time() % window_s + 0.05)
    raise AssertionError(f"{attempts} runs in a row straddled a {window_s} s window's end")


async def sweeps(redis: Any, n: int = 2, timeout: float = 30.0) -> None:
    """Until the sweeper has started `n` sweeps after this call, so whatever a sweep would do
    about the rows as they are now has been done (the sweep before the last has finished).

    Each sweep takes the sweeper's lock key anew, and it lapses before the next one: a key that
    was away and is back is a new sweep. A poll that misses one only waits for more."""
    seen = 0
    present = bool(await redis.exists(SWEEP_LOCK))

    async def started() -> bool:
        nonlocal seen, present
        now = bool(await redis.exists(SWEEP_LOCK))
        if now and not present:
            seen += 1
        present = now
        return seen >= n

    await wait_for(started, timeout=timeout, interval=0.01)


async def db_rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one query on a connection of its own (what the test sees from outside)."""
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def db_row(url: str, sql: str, *args: object) -> asyncpg.Record | None:
    """The first row of one query (None without one), on a connection of its own."""
    found = await db_rows(url, sql, *args)
    return found[0] if found else None


async def db_value(url: str, sql: str, *args: object) -> Any:
    """The first column of the first row of one query (None without a row)."""
    row = await db_row(url, sql, *args)
    return None if row is None else row[0]


@contextlib.asynccontextmanager
async def running_worker(settings: Any, **options: Any) -> AsyncIterator[Any]:
    """An arq worker running in this event loop, like `mca worker` does in its own process."""
    from workers.main import build_worker

    w = build_worker(settings, handle_signals=False, **{"poll_delay": 0.02, **options})
    task = asyncio.create_task(w.async_run())
    # Ready once its start-up hook has opened the runtime (or it has died trying).
    await wait_for(lambda: "rt" in w.ctx or task.done(), timeout=10)
    try:
        yield w
    finally:
        await stop_worker(w, task)


async def stop_worker(w: Any, task: asyncio.Task[Any]) -> None:
    """Stop an in-process worker completely: its poll loop, its job tasks and its hooks.

    Nothing of it may outlive the test: the event loop is shared by the whole session, and a
    leftover job or sweeper would act on the next test's data.
    """
    task.cancel()
    jobs = list(w.tasks.values())
    for job in jobs:
        job.cancel()
    await asyncio.gather(task, *jobs, return_exceptions=True)
    w.tasks.clear()
    with contextlib.suppress(BaseException):
        await w.close()
    if w.on_shutdown is not None:
        await w.on_shutdown(w.ctx)


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG image (red pixels), small enough for any limit, decodable by a browser."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))
@dataclass
class AppProcess:
    """An `mca` command (`python -m app ...`) in a process of its own, its output in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:  # what tests.graphql.helpers.ws_session connects to
        return f"ws://127.0.0.1:{self.port}/graphql"

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]


def start_app(name: str, args: list[str], env: dict[str, str], logs: Path,
              port: int | None = None) -> AppProcess:
    """Start `mca <args>` with `env` on top of this process's environment; its log is
    `logs/<name>-<pid>.log`."""
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{name}-{os.getpid()}.log"
    # A file, never a pipe: a pipe nobody reads fills up and stalls the child.
    log = open(path, "wb")  # noqa: SIM115 - closed in stop_apps
    popen = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=ROOT,
                             env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    return AppProcess(name, popen, log, path, port)


def _reap(popen: subprocess.Popen[Any], timeout: float) -> bool:
    try:
        popen.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)
        return False


def stop_process(popen: subprocess.Popen[Any], timeout: float = 30) -> bool:
    """SIGTERM, then a kill if it has not exited within `timeout`; whether it stopped by itself."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
    return _reap(popen, timeout)


def stop_apps(procs: list[AppProcess], timeout: float = 30) -> None:
    """SIGTERM to all at once (workers finish their batches), then a kill for any still up."""
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    for p in procs:
        _reap(p.popen, timeout)
        p.log.close()


async def until_up(p: AppProcess, url: str, timeout: float = 90) -> None:
    """Until `url` answers 200; fails at once, with the log, if the process exited."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if p.popen.poll() is not None:
                raise AssertionError(f"{p.name} exited with {p.popen.returncode}:\n{p.tail()}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{p.name} not up after {timeout}s:\n{p.tail()}")
            await asyncio.sleep(0.2)
