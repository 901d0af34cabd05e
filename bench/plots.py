"""PNG plots of the ingestion benchmark: throughput against batch size, latency distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def plot(results: dict[str, Any], out: Path) -> list[Path]:
    """Write ingest-batch-size.png and ingest-latency.png into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    sweep = results.get("batch_sweep") or {}
    if sweep:
        sizes = sorted(sweep, key=int)
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
        ax.plot([int(b) for b in sizes], [sweep[b]["readings_per_s"] for b in sizes], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("SMARTPARK_BATCH_MAX_MESSAGES (messages per batch, at most)")
        ax.set_ylabel("readings/s stored")
        ax.set_title("smartpark ingest: throughput against batch size")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(out / "ingest-batch-size.png")
        fig.savefig(written[-1])
        plt.close(fig)
    latency = (results.get("latency_at_half_rate") or {}).get("latency") or {}
    if latency.get("latencies_ms"):
        values = latency["latencies_ms"]
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
        ax.hist(values, bins=50, color="#1f8a5b")
        for q, style in (("p50_ms", "--"), ("p99_ms", ":")):
            ax.axvline(
                latency[q], color="#c23b31", linestyle=style, label=f"{q[:3]} {latency[q]:.0f} ms"
            )
        ax.set_xlabel("publish to queryable (ms)")
        ax.set_ylabel("probes")
        rate = results["latency_at_half_rate"].get("rate_msgs_per_s", 0)
        ax.set_title(f"latency at half the maximum rate ({rate:,.0f} msg/s)")
        ax.legend()
        fig.tight_layout()
        written.append(out / "ingest-latency.png")
        fig.savefig(written[-1])
        plt.close(fig)
    return written
