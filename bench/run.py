"""Run scenarios, print the table, write bench/results/latest.json and the plots."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.cluster import RESULTS, ROOT, Cluster, load_average, start_services
from bench.scenarios import QUICK, SCENARIOS, Sizes

ORDER = ["ingest", "e2e", "faults", "fanout", "reads"]
GOALS = {
    ("ingest", "max_rps"): (">=", 2500),
    ("ingest", "saturation_ratio_to_peak"): (">=", 0.9),
    ("e2e", "msgs_per_s"): (">=", 500),
    ("e2e", "overhead_p99_ms"): ("<=", 250),
    ("faults", "recovery_s"): ("<=", 15),
    ("fanout", "p99_ms"): ("<=", 100),
    ("reads", "conversations_page_p99_ms"): ("<=", 30),
    ("reads", "conversations_page_cpu_ms"): ("<=", 3),
    ("reads", "messages_page_p99_ms"): ("<=", 15),
    ("reads", "search_page_p99_ms"): ("<=", 50),
    ("reads", "message_search_page_p99_ms"): ("<=", 50),
    ("reads", "leads_page_p99_ms"): ("<=", 30),
}
COUNTS = ("fifo_violations", "duplicates", "lost")


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "load_avg_at_start": round(load_average(), 2),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run(
    names: list[str], *, quick: bool = False, write: bool = True, sizes: Sizes | None = None
) -> dict[str, Any]:
    sizes = sizes or (QUICK if quick else Sizes())
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    series: dict[str, Any] = {}
    services = start_services()
    try:
        for name in names:
            print(f"== {name} (load average {load_average():.2f})", flush=True)
            started = time.monotonic()
            cluster = Cluster(quick=quick, services=services).start()
            try:
                summary, data = SCENARIOS[name](cluster, sizes)
            finally:
                cluster.stop()
            summary["seconds"] = round(time.monotonic() - started, 1)
            results[name] = summary
            series[name] = data
    finally:
        if services is not None:
            services.stop()
    results["machine"]["load_avg_at_end"] = round(load_average(), 2)
    if write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        target = RESULTS / ("latest.json" if not quick else "quick.json")
        previous = orjson.loads(target.read_bytes()) if target.exists() else {}
        # A single-scenario run updates its section and keeps the others.
        merged = {**previous, **results} if set(names) != set(ORDER) else results
        target.write_bytes(orjson.dumps(merged, option=orjson.OPT_INDENT_2))
        from bench.plots import write_plots

        for p in write_plots(series, RESULTS):
            print(f"wrote {p.relative_to(ROOT)}")
        print(f"wrote {target.relative_to(ROOT)}")
        print(table(merged))
    return results


def _goal(section: str, key: str, value: Any) -> str:
    goal = GOALS.get((section, key))
    if goal is None or value is None:
        return ""
    op, target = goal
    ok = value >= target if op == ">=" else value <= target
    return f"{op} {target} {'met' if ok else 'MISSED'}"


def table(results: dict[str, Any]) -> str:
    rows = [("scenario", "figure", "value", "goal")]
    keys = {
        "ingest": ["max_rps", "p50_ms_at_1000", "p99_ms_at_1000", "floor_rps", "ratio_to_floor",
                   "saturation_ratio_to_peak", "saturation_refused_503"],
        "e2e": ["msgs_per_s", "sustained_offered_msgs_per_s", "overhead_p50_ms", "overhead_p99_ms", *COUNTS],
        "faults": ["recovery_s", *COUNTS],
        "fanout": ["subscribers", "p50_ms", "p99_ms", "rss_mb", "rss_kb_per_connection"],
        "reads": [
            f"{page}_page_{figure}"
            for page in ("conversations", "messages", "search", "message_search", "leads")
            for figure in ("rps", "p99_ms", "cpu_ms")
        ],
    }
    for section in ORDER:
        if section not in results:
            continue
        for key in keys[section]:
            value = results[section].get(key)
            goal = _goal(section, key, value) or (
                "== 0 " + ("ok" if value == 0 else "BUG") if key in COUNTS else ""
            )
            rows.append((section, key, str(value), goal))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def resolve(scenario: str) -> list[str]:
    if scenario == "all":
        return list(ORDER)
    names = [s.strip() for s in scenario.split(",")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {[*ORDER, 'all']}")
    return names


__all__ = ["Path", "resolve", "run", "table"]
