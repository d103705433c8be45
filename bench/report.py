"""Markdown for documentation/benchmarks.md: `python -m bench.report [before.json] latest.json`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from bench.run import COUNTS, GOALS, ORDER

ROWS = {
    "ingest": [
        ("max_rps", "max requests/s with p99 <= 50 ms"),
        ("p50_ms_at_1000", "p50 ms at 1,000 req/s"),
        ("p99_ms_at_1000", "p99 ms at 1,000 req/s"),
        ("floor_rps", "floor: signature + 1 Redis write, req/s"),
        ("ratio_to_floor", "ours / floor"),
    ],
    "e2e": [
        ("msgs_per_s", "messages/s answered (best step)"),
        ("sustained_offered_msgs_per_s", "highest offered step kept up with"),
        ("overhead_p50_ms", "overhead p50 ms (e2e - model)"),
        ("overhead_p99_ms", "overhead p99 ms"),
        *((c, c) for c in COUNTS),
    ],
    "faults": [("recovery_s", "longest wait caused by a fault, s"), *((c, c) for c in COUNTS)],
    "fanout": [
        ("subscribers", "subscribers (one API process)"),
        ("p50_ms", "delivery p50 ms"),
        ("p99_ms", "delivery p99 ms"),
        ("rss_mb", "API process RSS MB"),
        ("rss_kb_per_connection", "RSS kB per connection"),
    ],
    "reads": [
        ("conversations_page_rps", "conversations page req/s"),
        ("conversations_page_p99_ms", "conversations page p99 ms"),
        ("messages_page_rps", "messages page req/s"),
        ("messages_page_p99_ms", "messages page p99 ms"),
    ],
}


def _goal(section: str, key: str) -> str:
    if key in COUNTS:
        return "0"
    g = GOALS.get((section, key))
    return f"{'≥' if g[0] == '>=' else '≤'} {g[1]:,}" if g else ""


def markdown(latest: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    head = "| scenario | figure | goal | " + ("before | " if before else "") + "latest |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for section in ORDER:
        for key, label in ROWS[section]:
            cells = [section, label, _goal(section, key)]
            if before:
                cells.append(str((before.get(section) or {}).get(key, "")))
            cells.append(str((latest.get(section) or {}).get(key, "")))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]]
    docs = [orjson.loads(p.read_bytes()) for p in paths]
    print(markdown(docs[-1], docs[0] if len(docs) > 1 else None))


if __name__ == "__main__":
    main()
