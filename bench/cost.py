"""CPU per answered message, per process group: `python -m bench.cost [--runs 3]`.

The reference load for the cost per message: one API process, two workers, 100 ongoing conversations,
40 messages/s for 20 s, model latency 300 ms. CPU time comes from each process's own counters
(user + system) read before the load starts and after every message is answered: the API
(uvicorn and its children), the workers, Postgres (the postmaster, its live backends and the
backends it reaped in between) and Redis. The fakes and the load generator are not counted.
Needs the embedded servers (no DATABASE_URL / REDIS_URL): only their processes are known.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from typing import Any

import asyncpg
import orjson
import psutil

from bench.cluster import RESULTS, SECRET, Cluster, load_average, start_services
from bench.scenarios import Sizes, _drain, _start_pipeline, _world

SIZES = Sizes(api_processes=1, workers=2, e2e_conversations=100, model_latency_ms=300,
              drain_timeout_s=120)
RATE, DURATION = 40, 20.0


def _cpu(proc: psutil.Process, *, reaped: bool = False) -> float:
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    own = t.user + t.system
    return own + (t.children_user + t.children_system if reaped else 0.0)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _groups(cluster: Cluster, services: Any, api: subprocess.Popen[bytes]) -> dict[str, float]:
    pg_pid, redis_pid = (p.pid for p, _ in services._procs)
    pg = _tree(pg_pid)
    return {
        "api": sum(_cpu(p) for p in _tree(api.pid)),
        "workers": sum(_cpu(p) for w in cluster.workers for p in _tree(w.pid)),
        # Backends that exited in between are in the postmaster's reaped children's times.
        "postgres": sum(_cpu(p, reaped=p.pid == pg_pid) for p in pg),
        "redis": sum(_cpu(p) for p in _tree(redis_pid)),
    }


async def _answered(dsn: str, prefix: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'inbound' AND status = 'answered' "
            "AND text LIKE $1", prefix + "%"))
    finally:
        await conn.close()


def run_once(services: Any) -> dict[str, Any]:
    cluster = Cluster(quick=False, services=services).start()
    try:
        world = _world(cluster)
        port = _start_pipeline(cluster, SIZES, world)
        api = next(p for p in cluster._procs if str(port) in [str(a) for a in p.args])  # type: ignore[union-attr]
        load = load_average()
        before, started = _groups(cluster, services, api), time.monotonic()
        raw = cluster.loadgen({
            "mode": "webhooks", "targets": [["127.0.0.1", port]], "secret": SECRET,
            "account_id": world.account_id, "conversations": SIZES.e2e_conversations,
            "connections": 64, "prefix": "c",
            "steps": [{"rate": RATE, "duration": DURATION}],
        }, "cost")
        _drain(cluster, SIZES.drain_timeout_s)
        after, window = _groups(cluster, services, api), time.monotonic() - started
        answered = asyncio.run(_answered(cluster.pg_dsn, "c"))
        accepted = sum(1 for r in raw["requests"] if r[3] == 200)
        statuses: dict[str, int] = {}
        for r in raw["requests"]:
            statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
        cluster.stop_workers()
        cluster.stop_api(port)
    finally:
        cluster.stop()
    per = {k: round((after[k] - before[k]) * 1000 / max(answered, 1), 2) for k in before}
    per["total"] = round(sum(per.values()), 2)
    return {"cpu_ms_per_answered": per, "answered": answered, "accepted": accepted,
            "statuses": statuses, "unsent": sum(int(v) for v in raw["unsent"].values()),
            "window_s": round(window, 1), "load_avg": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    services = start_services()
    if services is None:
        raise SystemExit("bench.cost measures the embedded servers: unset DATABASE_URL/REDIS_URL")
    runs = []
    try:
        for i in range(args.runs):
            runs.append(run_once(services))
            print(f"run {i + 1}: {orjson.dumps(runs[-1]).decode()}", flush=True)
    finally:
        services.stop()
    groups = list(runs[0]["cpu_ms_per_answered"])
    summary = {g: {"median": statistics.median(r["cpu_ms_per_answered"][g] for r in runs),
                   "min": min(r["cpu_ms_per_answered"][g] for r in runs),
                   "max": max(r["cpu_ms_per_answered"][g] for r in runs)} for g in groups}
    out = {"runs": runs, "summary": summary}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cost.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    for g in groups:
        s = summary[g]
        print(f"{g:>9}: {s['median']:6.2f} ms per answered message (min {s['min']}, max {s['max']})")


if __name__ == "__main__":
    main()
