"""The five scenarios. Each takes a started Cluster and returns (summary, series for plots)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import psutil
from redis.asyncio import Redis

from bench.cluster import SECRET, Cluster, load_average
from bench.seed import World, bulk_conversations, conversation_ids, make_world
from bench.stats import E2EAnalysis, analyse_e2e, ms, pct

Result = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    """Full-size figures for `make bench`; the quick variant (tests) is a few seconds each."""

    api_processes: int = 2
    workers: int = 2
    ingest_rates: tuple[int, ...] = (500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000)
    ingest_step_s: float = 10
    e2e_conversations: int = 1000
    e2e_rates: tuple[int, ...] = (100, 250, 500, 750, 1000)
    e2e_step_s: float = 10
    model_latency_ms: float = 1000
    drain_timeout_s: float = 120
    faults_rate: int = 300
    faults_s: float = 40
    fault_every_s: float = 10
    fanout_subscribers: tuple[int, ...] = (1000, 5000)
    fanout_events_per_s: int = 500
    fanout_s: float = 15
    reads_conversations: int = 100_000
    reads_per_conversation: int = 10
    reads_s: float = 10
    reads_concurrency: int = 8


QUICK = Sizes(
    api_processes=1,
    workers=2,
    ingest_rates=(100, 200),
    ingest_step_s=1.5,
    e2e_conversations=20,
    e2e_rates=(20,),
    e2e_step_s=3,
    model_latency_ms=50,
    drain_timeout_s=60,
    faults_rate=20,
    faults_s=8,
    fault_every_s=3,
    fanout_subscribers=(20,),
    fanout_events_per_s=50,
    fanout_s=2,
    reads_conversations=500,
    reads_per_conversation=10,
    reads_s=2,
    reads_concurrency=2,
)


def _settings(cluster: Cluster) -> Any:
    from app.config import Settings

    values: dict[str, Any] = {
        k.lower(): v for k, v in cluster.env.items() if k.lower() in Settings.model_fields
    }
    return Settings(
        _env_file=None,
        **{k: v for k, v in values.items()},
    )


def _world(cluster: Cluster, **kw: Any) -> World:
    return asyncio.run(make_world(_settings(cluster), **kw))


# ---- 1. ingest ------------------------------------------------------------------------------


def _ingest_steps(cluster: Cluster, port: int, world: World, sizes: Sizes, name: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    # Warm-up, not measured: pool connections, statement caches, the channel route cache.
    cluster.loadgen(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": 1000,
            "connections": 64,
            "prefix": "w",
            "steps": [{"rate": 200, "duration": 3}],
        },
        f"{name}-warmup",
    )
    for rate in sizes.ingest_rates:
        load = load_average()
        raw = cluster.loadgen(
            {
                "mode": "webhooks",
                "targets": [["127.0.0.1", port]],
                "secret": SECRET,
                "account_id": world.account_id,
                "conversations": 1000,
                "connections": 256,
                "prefix": f"i{rate}x",
                "steps": [{"rate": rate, "duration": sizes.ingest_step_s}],
            },
            f"{name}-{rate}",
        )
        step = _ingest_step(raw, rate, load)
        steps.append(step)
        print(
            f"  {name} {rate:>5} rps offered: {step['achieved_rps']:>7} ok/s  p50 {step['p50_ms']} ms  "
            f"p99 {step['p99_ms']} ms  errors {step['errors']}  (load {load:.2f})",
            flush=True,
        )
        if step["errors"] > len(raw["requests"]) * 0.01 or (step["p99_ms"] or 0) > 1000:
            break  # well past saturation: higher rates only add queueing
    return steps


def _ingest_step(raw: dict[str, Any], rate: float, load: float) -> dict[str, Any]:
    reqs = raw["requests"]
    lat = [r[2] for r in reqs]
    ok = sum(1 for r in reqs if r[3] == 200)
    span = max((r[1] + r[2] for r in reqs), default=0) - min((r[1] for r in reqs), default=0)
    return {
        "offered_rps": rate,
        "achieved_rps": round(ok / max(span, 1e-9), 1),
        "p50_ms": ms(pct(lat, 50)),
        "p99_ms": ms(pct(lat, 99)),
        "ok_p99_ms": ms(pct([r[2] for r in reqs if r[3] == 200], 99)),
        "errors": len(reqs) - ok,
        # Refused by admission (503 + Retry-After): Meta would deliver these again.
        "refused_503": sum(1 for r in reqs if r[3] == 503),
        "unsent": sum(int(v) for v in raw["unsent"].values()),
        "load_avg": round(load, 2),
        "series": [[round(r[1], 3), round(r[2] * 1000, 2)] for r in reqs[:: max(1, len(reqs) // 2000)]],
    }


def _saturation(cluster: Cluster, port: int, world: World, sizes: Sizes,
                steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Twice the peak (the best answered rate of the steps) offered for one step: a service
    that degrades gracefully keeps answering at its peak and refuses the excess with 503."""
    peak = max((s["achieved_rps"] for s in steps), default=0.0)
    if not peak:
        return None
    rate = round(2 * peak)
    load = load_average()
    raw = cluster.loadgen(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": 1000,
            "connections": 256,
            "prefix": f"s{rate}x",
            "steps": [{"rate": rate, "duration": sizes.ingest_step_s}],
        },
        f"ingest-saturation-{rate}",
    )
    step = _ingest_step(raw, rate, load)
    step["peak_rps"] = peak
    step["ratio_to_peak"] = round(step["achieved_rps"] / peak, 3)
    print(
        f"  ingest at 2x peak ({rate} rps offered, peak {peak}): {step['achieved_rps']} ok/s "
        f"({step['ratio_to_peak']:.0%} of peak), {step['refused_503']} refused with 503, "
        f"other errors {step['errors'] - step['refused_503']}, p99 of the 200s {step['ok_p99_ms']} ms "
        f"(load {load:.2f})",
        flush=True,
    )
    return step


def _max_rate(steps: list[dict[str, Any]]) -> float:
    held = [
        s["achieved_rps"]
        for s in steps
        if s["errors"] == 0 and (s["p99_ms"] or 1e9) <= 50 and s["achieved_rps"] >= 0.97 * s["offered_rps"]
    ]
    return max(held, default=0.0)


def ingest(cluster: Cluster, sizes: Sizes) -> Result:
    world = _world(cluster)
    port = cluster.start_api(sizes.api_processes)
    ours = _ingest_steps(cluster, port, world, sizes, "ingest")
    saturation = _saturation(cluster, port, world, sizes, ours)
    cluster.stop_api(port)
    floor_port = cluster.start_api(sizes.api_processes, app="bench.floor:app")
    floor = _ingest_steps(cluster, floor_port, world, sizes, "floor")
    cluster.stop_api(floor_port)
    at_1000 = next((s for s in ours if s["offered_rps"] == 1000), None)
    max_rps, floor_rps = _max_rate(ours), _max_rate(floor)
    summary = {
        "max_rps": max_rps,
        "p50_ms_at_1000": at_1000["p50_ms"] if at_1000 else None,
        "p99_ms_at_1000": at_1000["p99_ms"] if at_1000 else None,
        "floor_rps": floor_rps,
        "ratio_to_floor": round(max_rps / floor_rps, 3) if floor_rps else None,
        "api_processes": sizes.api_processes,
        "saturation_ratio_to_peak": saturation["ratio_to_peak"] if saturation else None,
        "saturation_refused_503": saturation["refused_503"] if saturation else None,
        "saturation": {k: v for k, v in saturation.items() if k != "series"} if saturation else None,
        "steps": [{k: v for k, v in s.items() if k != "series"} for s in ours],
        "floor_steps": [{k: v for k, v in s.items() if k != "series"} for s in floor],
    }
    return summary, {"ours": ours, "floor": floor}


# ---- 2. and 3. end to end, with and without faults ------------------------------------------


async def _pending(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'inbound' "
                "AND status IN ('received', 'processing')"
            )
        )
    finally:
        await conn.close()


def _drain(cluster: Cluster, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if asyncio.run(_pending(cluster.pg_dsn)) == 0:
            # Replies are stored before they are sent and settled after: give the last a moment.
            time.sleep(1.0)
            return time.monotonic() - started
        time.sleep(0.5)
    return time.monotonic() - started


async def _rows(dsn: str) -> tuple[list[Any], list[Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        inbound = await conn.fetch(
            "SELECT conversation_id, seq, text, status FROM messages WHERE direction = 'inbound'"
        )
        replies = await conn.fetch(
            "SELECT conversation_id, seq, text, status, id FROM messages "
            "WHERE direction = 'outbound' AND sender_role = 'ai'"
        )
    finally:
        await conn.close()
    return [tuple(r) for r in inbound], [tuple(r) for r in replies]


def _analyse(cluster: Cluster, sent: list[Any], latency_s: float) -> E2EAnalysis:
    inbound, replies = asyncio.run(_rows(cluster.pg_dsn))
    return analyse_e2e(
        sent, inbound, replies, cluster.fake_requests("graph"), cluster.fake_requests("openai"), latency_s
    )


def _throughput_series(a: E2EAnalysis, sent: list[Any], t0: float) -> dict[str, Any]:
    offered: dict[int, int] = {}
    answered: dict[int, int] = {}
    for _text, at, status in sent:
        if status == 200:
            offered[int(at - t0)] = offered.get(int(at - t0), 0) + 1
    for _at, done, _e2e, _over in a.samples:
        answered[int(done - t0)] = answered.get(int(done - t0), 0) + 1
    horizon = max([*offered, *answered, 0]) + 1
    return {
        "t": list(range(horizon)),
        "offered": [offered.get(i, 0) for i in range(horizon)],
        "answered": [answered.get(i, 0) for i in range(horizon)],
    }


def _counts(a: E2EAnalysis) -> dict[str, Any]:
    return {
        "fifo_violations": a.fifo_violations,
        "duplicates": a.duplicates,
        "lost": a.lost,
        "accepted": a.accepted,
        "answered": a.answered,
        "unknown_replies": a.unknown_replies,
        "context_rebuilds": a.context_rebuilds,
        "details": a.details[:20],
    }


def _start_pipeline(cluster: Cluster, sizes: Sizes, world: World) -> int:
    """API and workers, warmed up: a few conversations answered end to end before measuring,
    so process start-up is not charged to the first measured messages."""
    cluster.fake_config("openai", latency_ms=sizes.model_latency_ms, latency_jitter_ms=0)
    cluster.fake_config("graph")
    port = cluster.start_api(sizes.api_processes)
    for _ in range(sizes.workers):
        cluster.start_worker()
    cluster.loadgen(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": 20,
            "connections": 8,
            "prefix": "w",
            "sender_base": 5219900000000,
            "steps": [{"rate": 20, "duration": 2}],
        },
        "warmup",
    )
    _drain(cluster, 120)
    # Open the measured conversations (one message each, answered) before measuring: the
    # scenario is 1,000 ongoing conversations. With the 60 s steps their first
    # messages would be a sixth of the first step; with 10 s steps they would be all of it,
    # and the first step would measure only the first-contact path.
    cluster.loadgen(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": sizes.e2e_conversations,
            "connections": 64,
            "prefix": "o",
            # One message per conversation: n at 100/s, the last scheduled at (n - 1) / 100 s.
            "steps": [{"rate": 100, "duration": (sizes.e2e_conversations - 0.5) / 100}],
        },
        "opening",
    )
    _drain(cluster, sizes.drain_timeout_s)
    return port


def e2e(cluster: Cluster, sizes: Sizes) -> Result:
    world = _world(cluster)
    port = _start_pipeline(cluster, sizes, world)
    load = load_average()
    raw = cluster.loadgen(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": sizes.e2e_conversations,
            "connections": 128,
            "prefix": "e",
            "steps": [{"rate": r, "duration": sizes.e2e_step_s} for r in sizes.e2e_rates],
        },
        "e2e",
    )
    drained = _drain(cluster, sizes.drain_timeout_s)
    cluster.stop_workers()
    cluster.stop_api(port)
    a = _analyse(cluster, raw["sent"], sizes.model_latency_ms / 1000)
    t0 = raw["t0_wall"]
    steps: list[dict[str, Any]] = []
    for i, rate in enumerate(sizes.e2e_rates):
        lo = raw["step_starts"][i]
        hi = raw["step_starts"][i + 1] if i + 1 < len(raw["step_starts"]) else lo + sizes.e2e_step_s
        # A step's window runs until the next step starts (its backlog included); messages
        # are assigned to the step in which they were posted.
        in_step = [s for s in a.samples if lo <= s[0] < hi]
        done_in_window = sum(1 for s in a.samples if lo <= s[1] < hi)
        steps.append(
            {
                "offered": rate,
                "posted_per_s": round(len(in_step) / (hi - lo), 1),
                "unsent": int(raw["unsent"].get(str(i), 0)),
                "answered_per_s": round(done_in_window / (hi - lo), 1),
                "overhead_p50_ms": ms(pct([s[3] for s in in_step], 50)),
                "overhead_p99_ms": ms(pct([s[3] for s in in_step], 99)),
                "e2e_p50_ms": ms(pct([s[2] for s in in_step], 50)),
                "e2e_p99_ms": ms(pct([s[2] for s in in_step], 99)),
            }
        )
        print(
            f"  e2e {rate:>5} msgs/s offered: answered {steps[-1]['answered_per_s']}/s, overhead "
            f"p50 {steps[-1]['overhead_p50_ms']} ms p99 {steps[-1]['overhead_p99_ms']} ms",
            flush=True,
        )
    kept_up = [
        s
        for s in steps
        if s["answered_per_s"] >= 0.95 * s["offered"] and (s["overhead_p99_ms"] or 1e9) <= 5000
    ]
    head = max(kept_up, key=lambda s: s["offered"], default=steps[-1] if steps else {})
    summary = {
        "msgs_per_s": max((s["answered_per_s"] for s in steps), default=0.0),
        "sustained_offered_msgs_per_s": head.get("offered") if kept_up else 0,
        "overhead_p50_ms": head.get("overhead_p50_ms"),
        "overhead_p99_ms": head.get("overhead_p99_ms"),
        **_counts(a),
        "drain_s": round(drained, 1),
        "steps": steps,
        "conversations": sizes.e2e_conversations,
        "workers": sizes.workers,
        "api_processes": sizes.api_processes,
        "model_latency_ms": sizes.model_latency_ms,
        "load_avg_at_start": round(load, 2),
    }
    series = {
        "throughput": _throughput_series(a, raw["sent"], t0),
        "overhead_ms": [round(s[3] * 1000, 2) for s in a.samples],
        "e2e_ms": [round(s[2] * 1000, 2) for s in a.samples],
    }
    return summary, series


def faults(cluster: Cluster, sizes: Sizes) -> Result:
    world = _world(cluster)
    port = _start_pipeline(cluster, sizes, world)
    proc, out = cluster.loadgen_background(
        {
            "mode": "webhooks",
            "targets": [["127.0.0.1", port]],
            "secret": SECRET,
            "account_id": world.account_id,
            "conversations": sizes.e2e_conversations,
            "connections": 128,
            "prefix": "f",
            "steps": [{"rate": sizes.faults_rate, "duration": sizes.faults_s}],
        },
        "faults",
    )
    fault_times: list[tuple[float, str]] = []
    started = time.monotonic()
    flushed = False
    next_kill = started + sizes.fault_every_s
    while proc.poll() is None:
        now = time.monotonic()
        if now >= next_kill and now - started < sizes.faults_s:
            victim = random.choice([w for w in cluster.workers if w.poll() is None])
            victim.send_signal(signal.SIGKILL)
            fault_times.append((time.time(), "sigkill"))
            victim.wait()
            cluster.workers.remove(victim)
            cluster.start_worker()  # the replacement, as a supervisor would start one
            next_kill += sizes.fault_every_s
        if not flushed and now - started >= sizes.faults_s / 2 + sizes.fault_every_s / 2:
            asyncio.run(_flushall(cluster.redis_url))
            fault_times.append((time.time(), "flushall"))
            flushed = True
        time.sleep(0.05)
    raw = orjson.loads(out.read_bytes())
    out.unlink(missing_ok=True)
    drained = _drain(cluster, sizes.drain_timeout_s)
    cluster.stop_workers()
    cluster.stop_api(port)
    a = _analyse(cluster, raw["sent"], sizes.model_latency_ms / 1000)
    # How long the messages caught in flight by each fault took to be answered after it.
    waits: list[dict[str, Any]] = []
    for at, kind in fault_times:
        caught = [s[1] - at for s in a.samples if s[0] <= at < s[1]]
        waits.append(
            {
                "kind": kind,
                "at_s": round(at - raw["t0_wall"], 1),
                "in_flight": len(caught),
                "longest_wait_s": round(max(caught, default=0.0), 2),
            }
        )
    recovery = max((w["longest_wait_s"] for w in waits), default=0.0)
    print(
        f"  faults: {len(fault_times)} faults, recovery {recovery} s, lost {a.lost}, "
        f"duplicates {a.duplicates}, fifo {a.fifo_violations}",
        flush=True,
    )
    summary = {
        **_counts(a),
        "recovery_s": recovery,
        "faults": waits,
        "drain_s": round(drained, 1),
        "rate": sizes.faults_rate,
        "duration_s": sizes.faults_s,
        "overhead_p50_ms": ms(pct([s[3] for s in a.samples], 50)),
        "overhead_p99_ms": ms(pct([s[3] for s in a.samples], 99)),
    }
    series = {
        "throughput": _throughput_series(a, raw["sent"], raw["t0_wall"]),
        "faults": [[round(at - raw["t0_wall"], 2), kind] for at, kind in fault_times],
    }
    return summary, series


async def _flushall(url: str) -> None:
    r = Redis.from_url(url)
    try:
        await r.flushall()
    finally:
        await r.aclose()


# ---- 4. fan-out -----------------------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    return float(sum(x.memory_info().rss for x in procs)) / 1e6


def _event(conversation_id: str) -> bytes:
    return orjson.dumps(
        {
            "type": "MessageCreated",
            "conversationId": conversation_id,
            "message": {
                "id": "00000000-0000-4000-8000-000000000000",
                "conversationId": conversation_id,
                "seq": 1,
                "direction": "inbound",
                "senderRole": "customer",
                "type": "text",
                "text": f"t={time.time()!r}",
                "status": "received",
                "statusReason": None,
                "errorCode": None,
                "errorTitle": None,
                "providerMessageId": None,
                "createdAt": "2026-01-01T00:00:00+00:00",
            },
        }
    )


async def _publish(url: str, topic: str, conversations: list[str], rate: int, seconds: float) -> int:
    r = Redis.from_url(url)
    sent = 0
    try:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * rate)
            while sent < due:
                await r.publish(topic, _event(conversations[sent % len(conversations)]))
                sent += 1
            await asyncio.sleep(0.002)
    finally:
        await r.aclose()
    return sent


def fanout(cluster: Cluster, sizes: Sizes) -> Result:
    from app.realtime.topics import tenant_topic

    world = _world(cluster)
    biggest = max(sizes.fanout_subscribers)
    asyncio.run(bulk_conversations(cluster.pg_dsn, world, biggest, 1))
    conversations = asyncio.run(conversation_ids(cluster.pg_dsn, world.tenant_id, biggest))
    runs: list[dict[str, Any]] = []
    series: dict[str, Any] = {}
    for n in sizes.fanout_subscribers:
        port = cluster.start_api(1)  # one API process: the hub's fan-out is what is measured
        pid = next(p.pid for p in cluster._procs if str(port) in [str(a) for a in p.args])  # type: ignore[union-attr]
        base_rss = _rss_mb(pid)
        subs = [[world.api_key, conversations[i]] for i in range(n)]
        proc, out = cluster.loadgen_background(
            {
                "mode": "websockets",
                "url": f"ws://127.0.0.1:{port}/graphql",
                "subscriptions": subs,
                "hold": sizes.fanout_s + 3,
            },
            f"fanout-{n}",
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        connected = int(line.split()[1]) if line.startswith("READY") else 0
        rss = _rss_mb(pid)
        load = load_average()
        published = asyncio.run(
            _publish(
                cluster.redis_url,
                tenant_topic(str(world.tenant_id)),
                conversations[:n],
                sizes.fanout_events_per_s,
                sizes.fanout_s,
            )
        )
        proc.wait()
        raw = orjson.loads(out.read_bytes())
        out.unlink(missing_ok=True)
        cluster.stop_api(port)
        lat = raw["latencies"]
        run = {
            "subscribers": n,
            "connected": connected,
            "events_published": published,
            "events_delivered": len(lat),
            "p50_ms": ms(pct(lat, 50)),
            "p99_ms": ms(pct(lat, 99)),
            "rss_mb": round(rss, 1),
            "rss_base_mb": round(base_rss, 1),
            "rss_kb_per_connection": round((rss - base_rss) * 1000 / max(connected, 1), 1),
            "failures": raw["failures"][:3],
            "load_avg": round(load, 2),
        }
        runs.append(run)
        series[str(n)] = [round(x * 1000, 2) for x in lat]
        print(
            f"  fanout {n}: connected {connected}, delivered {len(lat)}/{published}, p50 {run['p50_ms']} ms "
            f"p99 {run['p99_ms']} ms, {run['rss_kb_per_connection']} kB/connection",
            flush=True,
        )
    head = runs[-1]
    summary = {
        "subscribers": head["subscribers"],
        "p50_ms": head["p50_ms"],
        "p99_ms": head["p99_ms"],
        "rss_mb": head["rss_mb"],
        "rss_kb_per_connection": head["rss_kb_per_connection"],
        "events_per_s": sizes.fanout_events_per_s,
        "runs": runs,
    }
    return summary, {"latency_ms": series}


# ---- 5. reads -------------------------------------------------------------------------------

CONVERSATION_NODE = """id mode lastActivityAt channel { id kind } contact { id profileName externalId }
  lastMessage { id seq direction text status createdAt }"""
CONVERSATIONS_PAGE = (
    "query { conversations(first: 50) { edges { cursor node { " + CONVERSATION_NODE + " } } "
    "pageInfo { hasNextPage endCursor } } }"
)
MESSAGES_PAGE = """query($c: ID!) { conversation(id: $c) { id messages(last: 50) { edges { cursor node {
  id seq direction senderRole text status createdAt } } pageInfo { hasPreviousPage startCursor } } } }"""
# The dashboard's contact search (the API searches contacts' names and external ids).
SEARCH_PAGE = (
    "query($q: String!) { conversations(first: 50, filter: {search: $q}) { edges { cursor node { "
    + CONVERSATION_NODE + " } } pageInfo { hasNextPage endCursor } } }"
)
# Message text search: 50 hits, each with its conversation's contact and channel.
MESSAGE_SEARCH_PAGE = """query($q: String!) { searchMessages(text: $q, first: 50) { edges { cursor node {
  message { id seq direction text status createdAt }
  conversation { id mode contact { id profileName externalId } channel { id kind } } } }
  pageInfo { hasNextPage endCursor } } }"""
LEADS_PAGE = """query { leads(first: 50) { edges { cursor node { id name email intent urgency budget
  fit engagement notification createdAt conversation { id mode lastActivityAt
  contact { id profileName externalId } } } } pageInfo { hasNextPage endCursor } } }"""


def search_terms(conversations: int, count: int, rng: random.Random) -> list[str]:
    """What a person types: part of a seeded name ("Customer 4711" also finds 47110-47119) or
    the last digits of a seeded phone number (bench/seed.py), half each."""
    terms = []
    for i in range(count):
        n = rng.randint(1, conversations)
        terms.append(f"Customer {n}" if i % 2 else str(6_000_000_000_000 + n)[-6:])
    return terms


def message_search_terms(conversations: int, count: int, rng: random.Random) -> list[str]:
    """Half rare, half common over the seeded texts ("seeded message 3 of conversation 4711"):
    one conversation's number (which also finds 47110-47119: 10-110 messages), or one
    message's position ("message 1" also finds "message 10": a fifth of all messages)."""
    return [f"conversation {rng.randint(1, conversations)}" if i % 2 else f"message {rng.randint(1, 10)}"
            for i in range(count)]


def _api_cpu_s(port: int, cluster: Cluster) -> float:
    """User + system CPU seconds used so far by the API's processes (uvicorn and its workers)."""
    total = 0.0
    for p in cluster.api_processes(port):
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def reads(cluster: Cluster, sizes: Sizes) -> Result:
    world = _world(cluster)
    started = time.monotonic()
    asyncio.run(
        bulk_conversations(cluster.pg_dsn, world, sizes.reads_conversations, sizes.reads_per_conversation)
    )
    seeded_s = time.monotonic() - started
    print(
        f"  reads: seeded {sizes.reads_conversations} conversations, "
        f"{sizes.reads_conversations * sizes.reads_per_conversation} messages in {seeded_s:.1f}s",
        flush=True,
    )
    sample = asyncio.run(conversation_ids(cluster.pg_dsn, world.tenant_id, 500))
    rng = random.Random(16)
    rng.shuffle(sample)
    terms = search_terms(sizes.reads_conversations, 500, rng)
    message_terms = message_search_terms(sizes.reads_conversations, 500, rng)
    port = cluster.start_api(sizes.api_processes)
    out: dict[str, Any] = {}
    series: dict[str, Any] = {}
    for name, bodies in (
        ("conversations_page", [{"query": CONVERSATIONS_PAGE}]),
        ("messages_page", [{"query": MESSAGES_PAGE, "variables": {"c": c}} for c in sample]),
        ("search_page", [{"query": SEARCH_PAGE, "variables": {"q": q}} for q in terms]),
        ("message_search_page", [{"query": MESSAGE_SEARCH_PAGE, "variables": {"q": q}}
                                 for q in message_terms]),
        ("leads_page", [{"query": LEADS_PAGE}]),
    ):
        load = load_average()
        cpu_before = _api_cpu_s(port, cluster)
        raw = cluster.loadgen(
            {
                "mode": "graphql",
                "target": ["127.0.0.1", port],
                "api_key": world.api_key,
                "bodies": bodies,
                "duration": sizes.reads_s,
                "concurrency": sizes.reads_concurrency,
            },
            f"reads-{name}",
        )
        cpu_s = _api_cpu_s(port, cluster) - cpu_before
        lat = [r[1] for r in raw["requests"]]
        ok = sum(1 for r in raw["requests"] if r[2] == 200)
        out[name] = {
            "rps": round(ok / sizes.reads_s, 1),
            "p50_ms": ms(pct(lat, 50)),
            "p99_ms": ms(pct(lat, 99)),
            # CPU of the API processes per answered request: the figure the machine's other
            # load disturbs least (latency in a closed loop is mostly queueing for a core).
            "cpu_ms_per_request": round(cpu_s * 1000 / ok, 2) if ok else None,
            "errors": len(lat) - ok + len(raw["errors"]),
            "error_samples": raw["errors"][:2],
            "load_avg": round(load, 2),
        }
        series[name] = [round(x * 1000, 2) for x in lat]
        print(
            f"  reads {name}: {out[name]['rps']} req/s, p50 {out[name]['p50_ms']} ms, "
            f"p99 {out[name]['p99_ms']} ms, {out[name]['cpu_ms_per_request']} ms CPU/request, "
            f"errors {out[name]['errors']}",
            flush=True,
        )
    cluster.stop_api(port)
    summary: dict[str, Any] = {}
    for name, page in out.items():
        summary[f"{name}_rps"] = page["rps"]
        summary[f"{name}_p99_ms"] = page["p99_ms"]
        summary[f"{name}_cpu_ms"] = page["cpu_ms_per_request"]
    summary.update({
        "seeded": {
            "conversations": sizes.reads_conversations,
            "messages": sizes.reads_conversations * sizes.reads_per_conversation,
            "leads": sizes.reads_conversations // 10,
            "seconds": round(seeded_s, 1),
        },
        "concurrency": sizes.reads_concurrency,
        "api_processes": sizes.api_processes,
        "pages": out,
    })
    return summary, {"latency_ms": series}


SCENARIOS = {"ingest": ingest, "e2e": e2e, "faults": faults, "fanout": fanout, "reads": reads}
