"""The real app served by uvicorn on a free local port, lifespan on, in a background thread.

For what an in-process ASGI client cannot do: httpx's ASGITransport buffers whole responses,
so a live SSE stream needs a real socket, and so do a websocket and a browser. The server has
its own event loop, runtime and realtime hub, like another API process.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from app.sandbox.server import KEEP_ALIVE_S
from tests.helpers import wait_for


class LiveServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        # Bound before uvicorn starts, so port 0 gives a free port without a race.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}/graphql"
        self.server = uvicorn.Server(uvicorn.Config(
            app, loop="asyncio", lifespan="on", log_level="warning", access_log=False,
            timeout_graceful_shutdown=2, ws="websockets-sansio",
            # Clients close idle connections first (app/sandbox/server.py says why).
            timeout_keep_alive=KEEP_ALIVE_S,
        ))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"live-app-{self.port}", daemon=True)

    def start(self, timeout: float = 30) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"app server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()  # the port is free for another server at once

    @property
    def subscribers(self) -> int:
        """Subscriptions registered with this server's hub (read from the test's thread)."""
        while True:
            try:
                return int(self.app.state.hub.subscriber_count)
            except RuntimeError:  # the server's loop changed the dict while we counted
                continue

    async def wait_subscribers(self, n: int, timeout: float = 10) -> None:
        # graphql-transport-ws does not acknowledge a subscribe: wait until the server has
        # registered it, or an event published right away could precede it.
        await wait_for(lambda: self.subscribers >= n, timeout=timeout, interval=0.01)
