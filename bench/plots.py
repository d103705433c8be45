"""PNG plots with matplotlib (the `bench` extra). Skipped with a note when it is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plots(series: dict[str, Any], out_dir: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plots")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if "ingest" in series:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for label, steps in (
            ("/webhooks/meta", series["ingest"]["ours"]),
            ("floor (signature + 1 Redis write)", series["ingest"]["floor"]),
        ):
            ax1.plot([s["offered_rps"] for s in steps], [s["achieved_rps"] for s in steps], "o-", label=label)
            ax2.plot(
                [s["offered_rps"] for s in steps], [s["p99_ms"] for s in steps], "o-", label=f"{label} p99"
            )
            ax2.plot(
                [s["offered_rps"] for s in steps], [s["p50_ms"] for s in steps], "x--", label=f"{label} p50"
            )
        ax1.set(xlabel="offered requests/s", ylabel="answered 200/s", title="Ingest throughput")
        ax2.set(xlabel="offered requests/s", ylabel="latency ms (log)", yscale="log", title="Ingest latency")
        ax2.axhline(50, color="grey", lw=0.8, ls=":")
        ax1.legend(fontsize=8)
        ax2.legend(fontsize=7)
        save(fig, "ingest.png")
    for name in ("e2e", "faults"):
        if name not in series:
            continue
        s = series[name]
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.plot(s["throughput"]["t"], s["throughput"]["offered"], label="posted msgs/s")
        ax.plot(s["throughput"]["t"], s["throughput"]["answered"], label="answered msgs/s")
        for at, kind in s.get("faults", []):
            ax.axvline(at, color="red" if kind == "flushall" else "orange", lw=0.8, ls="--")
        ax.set(
            xlabel="seconds",
            ylabel="messages/s",
            title="End to end throughput over time"
            + (" (orange: SIGKILL, red: FLUSHALL)" if name == "faults" else ""),
        )
        ax.legend()
        save(fig, f"{name}_throughput.png")
        if s.get("overhead_ms"):
            fig, ax = plt.subplots(figsize=(10, 4))
            ax.hist(s["overhead_ms"], bins=100, log=True, alpha=0.7, label="overhead (e2e - model)")
            ax.hist(s["e2e_ms"], bins=100, log=True, alpha=0.5, label="end to end")
            ax.set(xlabel="ms", ylabel="messages (log)", title="End to end latency distribution")
            ax.legend()
            save(fig, f"{name}_latency.png")
    for name, title in (("fanout", "Subscription delivery latency"), ("reads", "Read page latency")):
        if name not in series:
            continue
        fig, ax = plt.subplots(figsize=(10, 4))
        for label, values in series[name]["latency_ms"].items():
            if values:
                xs = sorted(values)
                ax.plot(xs, [i / len(xs) for i in range(len(xs))], label=f"{label}")
        ax.set(xlabel="ms (log)", xscale="log", ylabel="fraction of requests (CDF)", title=title)
        ax.legend()
        save(fig, f"{name}_latency.png")
    return written
