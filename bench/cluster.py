"""The processes a benchmark runs against: Postgres and Redis, the fakes, API servers, workers.

Postgres and Redis come from app.cli.devservers under `.data/bench` (their own pair, so a
FLUSHALL in the fault scenario never touches a running `mca run`), unless DATABASE_URL and
REDIS_URL are set. Each run gets a freshly migrated database of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import psutil
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret"
ADMIN_KEY = "bench-admin-key"

# The platform's settings for every bench process. Lock TTL and sweeper cadence are the ones
# the fault scenario's recovery depends on; each is stated in documentation/benchmarks.md.
BENCH_ENV = {
    "APP_ENV": "development",
    "LOG_LEVEL": "WARNING",
    "META_APP_SECRET": SECRET,
    "META_VERIFY_TOKEN": "bench-verify",
    "ADMIN_API_KEY": ADMIN_KEY,
    "OPENAI_API_KEY": "bench-openai-key",
    "OPENAI_MAX_RETRIES": "2",
    "OPENAI_TIMEOUT_S": "30",
    "GRAPH_TIMEOUT_S": "10",
    "QUEUE_MAX_PENDING": "10000000",
    "GRAPHQL_RATE_PER_MINUTE": "100000000",
    # The fan-out scenario holds thousands of sockets for one tenant.
    "GRAPHQL_MAX_SOCKETS_PER_TENANT": "100000",
    "LOCK_TTL_MS": "10000",
    "SWEEPER_INTERVAL_S": "2",
    "SWEEPER_MIN_AGE_S": "2",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_services() -> Any:
    """The embedded Postgres + Valkey pair (None when DATABASE_URL and REDIS_URL are set)."""
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return None
    from app.cli.devservers import start_services as start

    return start(ROOT / ".data" / "bench")


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Cluster:
    quick: bool
    env: dict[str, str] = field(default_factory=dict)
    services: Any = None  # shared across scenarios; started and stopped by the caller
    graph_url: str = ""
    openai_url: str = ""
    api_ports: list[int] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _admin_url: str = ""
    _db_name: str = ""
    _logs: list[IO[bytes]] = field(default_factory=list)

    # ---- life cycle -----------------------------------------------------------------------

    def start(self) -> Cluster:
        db, redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
        if not (db and redis):
            if self.services is None:
                raise RuntimeError("no DATABASE_URL/REDIS_URL and no embedded services")
            db, redis = db or self.services.database_url, redis or self.services.redis_url
        assert db and redis
        self._admin_url = db
        self._db_name = f"mca_bench_{os.getpid()}"
        asyncio.run(self._recreate_database())
        self.env = {
            **os.environ,
            **BENCH_ENV,
            "APP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis,
            "DATA_DIR": str(ROOT / ".data" / "bench" / "app"),
        }
        self.env.pop("PYTHONASYNCIODEBUG", None)
        self._migrate()
        self.graph_url = self._fake("graph")
        self.openai_url = self._fake("openai")
        self.env["OPENAI_BASE_URL"] = self.openai_url + "/v1"
        self.env["META_GRAPH_API_BASE_URL"] = self.graph_url + "/v25.0"
        self.env["INSTAGRAM_GRAPH_API_BASE_URL"] = self.graph_url + "/v25.0"
        return self

    def stop(self) -> None:
        self.stop_workers()
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self._procs.clear()
        try:
            asyncio.run(self._drop_database())
        except Exception as exc:  # best effort: the next run recreates it anyway
            print(f"warning: could not drop {self._db_name}: {exc}", file=sys.stderr)
        for log in self._logs:
            log.close()

    @property
    def database_url(self) -> str:
        head, _, _ = self._admin_url.rpartition("/")
        return f"{head}/{self._db_name}"

    @property
    def pg_dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://")

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    async def _recreate_database(self) -> None:
        conn = await asyncpg.connect(self._admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{self._db_name}"')
        finally:
            await conn.close()

    async def _drop_database(self) -> None:
        conn = await asyncpg.connect(self._admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')
        finally:
            await conn.close()

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.attributes["database_url"] = self.database_url
        cfg.attributes["configure_logger"] = False
        command.upgrade(cfg, "head")

    def _log(self, name: str) -> IO[bytes]:
        (ROOT / ".data" / "bench").mkdir(parents=True, exist_ok=True)
        log = open(ROOT / ".data" / "bench" / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child
        self._logs.append(log)
        return log

    def _spawn(self, args: list[str], name: str, **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stderr=self._log(name), **kw)
        self._procs.append(proc)
        return proc

    def _fake(self, kind: str) -> str:
        proc = self._spawn(["-m", "app.sandbox", kind, "--port", "0"], f"fake-{kind}", stdout=subprocess.PIPE)
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"fake {kind} server did not start (see .data/bench/fake-{kind}.log)")
        _wait_http(url + "/_fake/health")
        return url

    def fake_config(self, kind: str, **values: Any) -> None:
        url = self.graph_url if kind == "graph" else self.openai_url
        httpx.post(url + "/_fake/reset", timeout=30)
        if values:
            httpx.post(url + "/_fake/config", json=values, timeout=30).raise_for_status()

    def fake_requests(self, kind: str) -> list[dict[str, Any]]:
        url = self.graph_url if kind == "graph" else self.openai_url
        data = httpx.get(url + "/_fake/requests", timeout=120).json()
        return list(data["requests"] if isinstance(data, dict) else data)

    def start_api(self, processes: int, app: str = "app.main:app_factory") -> int:
        """`processes` uvicorn workers sharing one port (uvicorn --workers), uvloop + httptools."""
        port = free_port()
        args = [
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(processes),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ]
        if app.endswith("app_factory"):
            args.append("--factory")
        proc = self._spawn(args, f"api-{port}")
        _wait_http(
            f"http://127.0.0.1:{port}/readyz" if app.startswith("app.main:") else None, port=port, proc=proc
        )
        self.api_ports.append(port)
        return port

    def api_processes(self, port: int) -> list[psutil.Process]:
        """The uvicorn process serving `port` and its worker processes."""
        for p in self._procs:
            if p.args and str(port) in [str(a) for a in p.args]:  # type: ignore[union-attr]
                parent = psutil.Process(p.pid)
                return [parent, *parent.children(recursive=True)]
        return []

    def stop_api(self, port: int) -> None:
        for p in list(self._procs):
            if p.args and str(port) in [str(a) for a in p.args]:  # type: ignore[union-attr]
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                self._procs.remove(p)

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(["-m", "app", "worker"], f"worker-{len(self.workers)}")
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
            if w in self._procs:
                self._procs.remove(w)
        self.workers.clear()

    def loadgen(self, config: dict[str, Any], name: str) -> dict[str, Any]:
        """Run the load generator process to completion and return what it measured."""
        import orjson

        RESULTS.mkdir(parents=True, exist_ok=True)
        cfg_path, out_path = RESULTS / f"{name}.cfg.json", RESULTS / f"{name}.raw.json"
        cfg_path.write_bytes(orjson.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", str(cfg_path), str(out_path)],
            cwd=ROOT,
            env=self.env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({proc.returncode}) for {name}")
        result: dict[str, Any] = orjson.loads(out_path.read_bytes())
        cfg_path.unlink(missing_ok=True)
        out_path.unlink(missing_ok=True)
        return result

    def loadgen_background(self, config: dict[str, Any], name: str) -> tuple[subprocess.Popen[bytes], Path]:
        import orjson

        RESULTS.mkdir(parents=True, exist_ok=True)
        cfg_path, out_path = RESULTS / f"{name}.cfg.json", RESULTS / f"{name}.raw.json"
        cfg_path.write_bytes(orjson.dumps(config))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(cfg_path), str(out_path)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
        )
        return proc, out_path


def _wait_http(
    url: str | None,
    *,
    port: int | None = None,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 90,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited during start-up (see .data/bench/*.log)")
        try:
            if url is not None:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            else:
                with socket.create_connection(("127.0.0.1", port or 0), timeout=1):
                    return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url or port} did not come up within {timeout:.0f}s")
