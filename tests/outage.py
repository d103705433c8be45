"""A TCP proxy that can take a server away and bring it back, as a restart or a failover does:
`down()` drops the open connections and resets new ones (counting them: `turned_away`), `up()`
forwards again. Put between
the platform and the session's real Postgres or Redis, it makes an outage for one test without
disturbing the servers other tests share."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._parts = parts
        self.target = (parts.hostname or "127.0.0.1", parts.port or 0)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.is_down = False
        self.turned_away = 0

    @property
    def url(self) -> str:
        """The target's URL with the proxy's address in it."""
        netloc = self._parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(self._parts._replace(
            netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def up(self) -> None:
        self.is_down = False

    async def down(self) -> None:
        """Open connections are cut; new ones are reset as soon as they are accepted."""
        self.is_down = True
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()
        for t in list(self._pipes):
            t.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def stop(self) -> None:
        await self.down()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_down:
            self.turned_away += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(dst)
            with contextlib.suppress(Exception):
                dst.transport.abort()
