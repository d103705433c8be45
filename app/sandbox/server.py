"""Run the fake servers as real HTTP servers.

Tests, workers and benchmarks talk to the fakes from other processes, so each fake is a
real uvicorn server: either in a background thread of the test process (`run_in_thread`)
or standalone via `python -m app.sandbox {graph|openai} --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

_STARTUP_TIMEOUT_S = 10.0


def _bind(host: str, port: int) -> socket.socket:
    # Binding before uvicorn starts lets port 0 work: we learn the real port from the socket
    # instead of racing another process for a port we picked ourselves.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening right away means early clients queue in the backlog instead of being refused
    # while uvicorn is still starting.
    sock.listen(128)
    return sock


class _QuietShutdown:
    """Swallow the cancellation of in-flight requests when the server is stopping.

    The fakes hold requests open on purpose (scripted delays and drops), so every teardown
    would otherwise log an "Exception in ASGI application" traceback per hanging request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.server: uvicorn.Server | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if self.server is None or not self.server.should_exit:
                raise


def _server(app: ASGIApp) -> uvicorn.Server:
    wrapper = _QuietShutdown(app)
    server = uvicorn.Server(_config(wrapper))
    wrapper.server = server
    return server


# Longer than any HTTP client here keeps an idle connection (httpx: 5 s).
KEEP_ALIVE_S = 75


def _config(app: ASGIApp) -> uvicorn.Config:
    # loop="asyncio": "auto" may pick uvloop, and the fakes must not influence the event loop
    # of the process that embeds them. lifespan off: the fakes have no startup work.
    # timeout_keep_alive: idle connections are left for the client to close. httpx drops its
    # own after 5 s idle, uvicorn's default is also 5 s: a request sent on a connection at
    # 4.99 s met the server closing it ("Server disconnected without sending a response").
    return uvicorn.Config(
        app,
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


class RunningServer:
    """A uvicorn server running in a daemon thread; usable as a context manager."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int):
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        # force_exit: do not wait for in-flight requests; a scripted "drop" sleeps for 30 s
        # and a test teardown must not wait for it.
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(app: ASGIApp, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Serve `app` on host:port (0 = any free port); returns once connections are accepted."""
    sock = _bind(host, port)
    actual_port = int(sock.getsockname()[1])
    server = _server(app)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"fake-server-{actual_port}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"fake server on port {actual_port} failed to start")
        time.sleep(0.01)
    return RunningServer(server, thread, host, actual_port)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m app.sandbox`: run one fake in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m app.sandbox", description=__doc__)
    parser.add_argument("kind", choices=["graph", "openai"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every reply")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="openai only: random extra")
    parser.add_argument(
        "--owner", action="append", default=[], metavar="KIND:ACCOUNT_ID:TOKEN",
        help="graph only: TOKEN owns the whatsapp or instagram account (repeatable); "
        "connecting a channel needs it",
    )
    args = parser.parse_args(argv)

    app: ASGIApp
    if args.kind == "graph":
        # Only the fake that was asked for is loaded.
        from app.sandbox import fake_graph

        owners = []
        for spec in args.owner:
            kind, _, rest = spec.partition(":")
            account_id, _, token = rest.partition(":")
            if kind not in ("whatsapp", "instagram") or not account_id or not token:
                parser.error(f"--owner {spec!r}: expected whatsapp|instagram:ACCOUNT_ID:TOKEN")
            owners.append({"kind": kind, "account_id": account_id, "token": token})
        app = fake_graph.create_app(default_delay_ms=args.latency_ms, owners=owners)
    else:
        # Only the fake that was asked for is loaded.
        from app.sandbox import fake_openai

        app = fake_openai.create_app(latency_ms=args.latency_ms, latency_jitter_ms=args.jitter_ms)

    sock = _bind(args.host, args.port)
    # Printed before serving so a parent process can read the chosen port from stdout.
    print(f"http://{args.host}:{sock.getsockname()[1]}", flush=True)
    server = _server(app)
    server.run(sockets=[sock])


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
