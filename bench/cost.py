"""CPU per answered message, per process group: `python -m bench.cost [--runs 3]`.

The reference load for the cost per message: one API process, two workers, 100 ongoing conversations,
40 messages/s for 20 s, model latency 300 ms. CPU time comes from each process's own counters
(user + system) read before the load starts and after every message is answered: the API
(uvicorn and its children), the workers, Postgres (the postmaster, its live backends and the
backends it reaped in between) and Redis. The fakes and the load generator are not counted.
Needs the embedded servers (no DATABASE_URL / REDIS_URL): only their processes are known.

In the same run, against the same fakes (same model latency) and with the same signed webhooks
at the same rate: a minimal pywa + openai bot (bench/pywa_bot.py, one process; CPU per reply
the fake Graph API received) and the floor (bench/floor.py: the signature and one Redis write;
its process and Redis, per webhook). Each figure is reported as the median of the runs with
their min and max, with the load average at each run's start."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from typing import Any

import asyncpg
import httpx
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


def _webhooks(cluster: Cluster, port: int, world: Any, prefix: str, *, rate: float = RATE,
              duration: float = DURATION, conversations: int = SIZES.e2e_conversations,
              sender_base: int | None = None) -> dict[str, Any]:
    """The reference load (or a warm-up) against `port`: signed webhooks, as Meta sends them."""
    cfg: dict[str, Any] = {
        "mode": "webhooks", "targets": [["127.0.0.1", port]], "secret": SECRET,
        "account_id": world.account_id, "conversations": conversations,
        "connections": 64, "prefix": prefix, "steps": [{"rate": rate, "duration": duration}],
    }
    if sender_base is not None:
        cfg["sender_base"] = sender_base
    return cluster.loadgen(cfg, f"cost-{prefix}")


def _statuses(raw: dict[str, Any]) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for r in raw["requests"]:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    return statuses


def _ours(cluster: Cluster, services: Any, world: Any) -> dict[str, Any]:
    port = _start_pipeline(cluster, SIZES, world)
    api = next(p for p in cluster._procs if str(port) in [str(a) for a in p.args])  # type: ignore[union-attr]
    load = load_average()
    before, started = _groups(cluster, services, api), time.monotonic()
    raw = _webhooks(cluster, port, world, "c")
    _drain(cluster, SIZES.drain_timeout_s)
    after, window = _groups(cluster, services, api), time.monotonic() - started
    answered = asyncio.run(_answered(cluster.pg_dsn, "c"))
    cluster.stop_workers()
    cluster.stop_api(port)
    per = {k: round((after[k] - before[k]) * 1000 / max(answered, 1), 2) for k in before}
    per["total"] = round(sum(per.values()), 2)
    return {"cpu_ms_per_answered": per, "answered": answered,
            "accepted": sum(1 for r in raw["requests"] if r[3] == 200), "statuses": _statuses(raw),
            "unsent": sum(int(v) for v in raw["unsent"].values()),
            "window_s": round(window, 1), "load_avg": round(load, 2)}


def _replies(cluster: Cluster, prefix: str) -> int:
    """Replies the fake Graph API received to messages whose texts start with `prefix` (the
    fake model's reply repeats the user's text after "[sandbox] "). Read once a phase is over:
    the fake's whole request log is a heavy answer, and polling it slowed the fake down."""
    head = f"[sandbox] {prefix}"
    return sum(
        1 for r in cluster.fake_requests("graph")
        if r.get("kind") == "send" and str(((r.get("json") or {}).get("text") or {}).get("body", ""))
        .startswith(head)
    )


def _wait_bot(port: int, expected: int, timeout: float) -> int:
    """Until the bot has had `expected` replies accepted in all (its own cheap counter)."""
    deadline = time.monotonic() + timeout
    while True:
        got = int(httpx.get(f"http://127.0.0.1:{port}/bench/answered", timeout=10).text)
        if got >= expected or time.monotonic() >= deadline:
            return got
        time.sleep(0.5)


def _pywa(cluster: Cluster, world: Any) -> dict[str, Any]:
    """The same load through the minimal pywa + openai bot (bench/pywa_bot.py), warmed up and
    its conversations opened the same way; its CPU from its own process's counters."""
    cluster.env["BENCH_PHONE_ID"] = world.account_id
    port = cluster.start_api(1, app="bench.pywa_bot:app_factory")
    bot = next(p for p in cluster._procs if str(port) in [str(a) for a in p.args])  # type: ignore[union-attr]
    try:
        warm = _webhooks(cluster, port, world, "pw", rate=20, duration=2, conversations=20,
                         sender_base=5219900000000)
        opening = _webhooks(cluster, port, world, "po", rate=100,
                            duration=(SIZES.e2e_conversations - 0.5) / 100)
        opened = sum(1 for raw in (warm, opening) for r in raw["requests"] if r[3] == 200)
        done = _wait_bot(port, opened, SIZES.drain_timeout_s)
        load = load_average()
        before, started = sum(_cpu(p) for p in _tree(bot.pid)), time.monotonic()
        raw = _webhooks(cluster, port, world, "pc")
        accepted = sum(1 for r in raw["requests"] if r[3] == 200)
        answered = _wait_bot(port, done + accepted, SIZES.drain_timeout_s) - done
        after, window = sum(_cpu(p) for p in _tree(bot.pid)), time.monotonic() - started
    finally:
        cluster.stop_api(port)
    return {"cpu_ms_per_answered": round((after - before) * 1000 / max(answered, 1), 2),
            "answered": answered, "graph_received": _replies(cluster, "pc"),
            "accepted": accepted, "statuses": _statuses(raw),
            "unsent": sum(int(v) for v in raw["unsent"].values()),
            "window_s": round(window, 1), "load_avg": round(load, 2)}


def _floor(cluster: Cluster, services: Any, world: Any) -> dict[str, Any]:
    """The floor under the same load: bench/floor.py checks the signature and does one Redis
    write per webhook. Its process and Redis (idle otherwise by now), per accepted webhook."""
    port = cluster.start_api(1, app="bench.floor:app")
    floor = next(p for p in cluster._procs if str(port) in [str(a) for a in p.args])  # type: ignore[union-attr]
    redis_pid = services._procs[1][0].pid
    try:
        _webhooks(cluster, port, world, "fw", rate=20, duration=2, conversations=20)
        load = load_average()

        def cpu() -> dict[str, float]:
            return {"floor": sum(_cpu(p) for p in _tree(floor.pid)),
                    "redis": sum(_cpu(p) for p in _tree(redis_pid))}

        before = cpu()
        raw = _webhooks(cluster, port, world, "fc")
        after = cpu()
    finally:
        cluster.stop_api(port)
    accepted = sum(1 for r in raw["requests"] if r[3] == 200)
    per = {k: round((after[k] - before[k]) * 1000 / max(accepted, 1), 2) for k in before}
    per["total"] = round(sum(per.values()), 2)
    return {"cpu_ms_per_webhook": per, "accepted": accepted, "statuses": _statuses(raw),
            "load_avg": round(load, 2)}


def run_once(services: Any) -> dict[str, Any]:
    cluster = Cluster(quick=False, services=services).start()
    try:
        world = _world(cluster)
        ours = _ours(cluster, services, world)
        pywa = _pywa(cluster, world)
        floor = _floor(cluster, services, world)
    finally:
        cluster.stop()
    ratio = round(ours["cpu_ms_per_answered"]["total"] / pywa["cpu_ms_per_answered"], 2) \
        if pywa["cpu_ms_per_answered"] else None
    return {**ours, "pywa": pywa, "ratio_to_pywa": ratio, "floor": floor}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    groups = list(runs[0]["cpu_ms_per_answered"])
    summary: dict[str, Any] = {g: _spread([r["cpu_ms_per_answered"][g] for r in runs]) for g in groups}
    summary["pywa"] = _spread([r["pywa"]["cpu_ms_per_answered"] for r in runs])
    summary["ratio_to_pywa"] = _spread([r["ratio_to_pywa"] for r in runs if r["ratio_to_pywa"]])
    summary["floor"] = _spread([r["floor"]["cpu_ms_per_webhook"]["total"] for r in runs])
    summary["load_avg"] = [r["load_avg"] for r in runs]
    return summary


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
    summary = summarise(runs)
    out = {"runs": runs, "summary": summary}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cost.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    for g in [*runs[0]["cpu_ms_per_answered"], "pywa", "ratio_to_pywa", "floor"]:
        s = summary[g]
        unit = {"ratio_to_pywa": "(ours / pywa)", "floor": "ms per webhook (signature + 1 Redis write)"}
        print(f"{g:>13}: {s['median']:6.2f} {unit.get(g, 'ms per answered message')} "
              f"(min {s['min']}, max {s['max']})")
    print(f"     load avg: {summary['load_avg']} at the start of each run")


if __name__ == "__main__":
    main()
