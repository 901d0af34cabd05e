"""Markdown tables from the benchmark results (bench/results/*.json), for docs/benchmarks.md.

python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def ingest(r: dict[str, Any]) -> str:
    """The ingestion tables."""
    sp, lat = r["smartpark"], r["latency_at_half_rate"]
    rows = [
        ("smartpark (`smartpark ingest`, one process)",
         f"**{_n(sp['readings_per_s'])} readings/s** ({_n(sp['readings_per_s'] / 5)} msg/s) over "
         f"{_n(sp['seconds'], 1)} s; {_n(sp['readings_published'])} published, "
         f"{_n(sp['readings_stored'])} stored, lost: **{sp['lost']}**"),
        ("ingestor CPU", f"{_n(sp['ingestor_cpu_seconds'], 1)} CPU-s ({sp['ingestor_cpu_share']:.2f} of one core)"),
        ("ingestor peak RSS", f"**{_n(sp['ingestor_peak_rss_mb'])} MB**"),
        ("broker ceiling: bare paho consumer, QoS 1, counting only",
         f"{_n(r['broker_ceiling']['rate'])} msg/s ({_n(r['broker_ceiling']['rate'] * 5)} readings/s)"),
        ("database ceiling: raw COPY into a hypertable shaped like `reading`",
         f"{_n(r['copy_ceiling']['rows_per_s'])} rows/s"),
        ("naive baseline: INSERT and commit each message",
         f"{_n(r['naive']['rate'])} msg/s ({_n(r['naive']['rate'] * 5)} readings/s)"),
        ("smartpark / broker ceiling", f"**{r['ratios']['readings_vs_broker_ceiling']:.2f}**"),
        ("smartpark / naive", f"**{r['ratios']['readings_vs_naive']:.1f}x**"),
        ("smartpark / COPY ceiling", f"{r['ratios']['readings_vs_copy_ceiling']:.2f}"),
    ]  # fmt: skip
    out = ["| what | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), ""]
    probe = lat["latency"]
    out += [
        f"Latency at half the maximum rate ({_n(lat['rate_msgs_per_s'])} msg/s, "
        f"{_n(lat['seconds'], 1)} s, lost: {lat['lost']}): {probe['probes_seen']} probes, "
        f"p50 **{_n(probe['p50_ms'])} ms**, p90 {_n(probe['p90_ms'])} ms, "
        f"p99 **{_n(probe['p99_ms'])} ms**, max {_n(probe['max_ms'])} ms "
        f"(poll resolution {probe['poll_resolution_ms']:g} ms).",
        "",
        "| ingestors (shared subscription) | readings/s | lost | CPU-s | peak RSS (MB, largest) |",
        "|---|---|---|---|---|",
    ]
    for n, s in r["scale_out"].items():
        out.append(f"| {n} | {_n(s['readings_per_s'])} | {s['lost']} | "
                   f"{_n(s['ingestor_cpu_seconds'], 1)} | {_n(s['ingestor_peak_rss_mb'])} |")  # fmt: skip
    if "mqtt_311" in r:
        out += ["", "| one ingestor, same load | readings/s | lost | CPU-s per million readings |",
                "|---|---|---|---|"]  # fmt: skip
        for label, s in (
            ("MQTT 5 (the default)", r["scale_out"]["1"]),
            ("MQTT 3.1.1", r["mqtt_311"]),
        ):
            per_million = s["ingestor_cpu_seconds"] / s["readings_stored"] * 1e6
            out.append(f"| {label} | {_n(s['readings_per_s'])} | {s['lost']} | {per_million:.1f} |")
    out += ["", "| `SMARTPARK_BATCH_MAX_MESSAGES` | readings/s while the load ran |", "|---|---|"]
    for b, s in sorted(r["batch_sweep"].items(), key=lambda kv: int(kv[0])):
        out.append(f"| {b} | {_n(s['readings_per_s'])} |")
    out += ["", "| function (py-spy, self time) | share |", "|---|---|"]
    out += [f"| `{p['function']}` | {p['self_share']:.1%} |" for p in r["profile"]]
    return "\n".join(out)


def checks(r: dict[str, Any]) -> str:
    """The checks table."""
    d, m = r["dataset"], r["maintenance"]
    runs = ", ".join(f"{c['seconds']:.2f}" for c in r["cycle"]["runs"])
    naive = ", ".join(f"{c['seconds']:.2f}" for c in r["naive"]["runs"])
    rows = [
        ("dataset", f"{d['devices']} devices, {d['series']} series, {d['days']:g} days of one-minute data: {_n(d['readings'])} readings"),
        ("rollup maintenance of the whole dataset", f"{_n(m['hours_recomputed'])} device-hours in {m['seconds']:.1f} s: **{m['seconds_per_million_readings']:.2f} s per million readings**"),
        ("full check cycle (maintenance of the new hour + every check)", f"**{r['cycle']['median_seconds']:.2f} s** median ({runs}); {r['cycle']['runs'][0]['results']} verdicts"),
        ("the same cycle computed from raw readings", f"{r['naive']['median_seconds']:.2f} s median ({naive})"),
        ("naive / smartpark", f"**{r['ratio_naive_over_cycle']:.1f}x**"),
    ]  # fmt: skip
    return "\n".join(["| what | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def api(r: dict[str, Any]) -> str:
    """The API table."""
    out = [
        "| query | requests | req/s | p50 | p95 | p99 | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, q in r["queries"].items():
        out.append(f"| {name} | {q['requests']} | {_n(q['requests_per_s'])} | {_n(q['p50_ms'], 1)} ms | "
                   f"**{_n(q['p95_ms'], 1)} ms** | {_n(q['p99_ms'], 1)} ms | {q['errors']} |")  # fmt: skip
    return "\n".join(out)


def main() -> None:
    """Print every table whose results exist."""
    for name, render in (("ingest", ingest), ("checks", checks), ("api", api)):
        path = RESULTS / f"{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
            print(f"## {name} ({result['when'][:16]}, `{result['command']}`)\n\n{render(result)}\n")


if __name__ == "__main__":
    main()
