"""Checks benchmark: rollup maintenance cost and a full check cycle on the standard dataset
(500 devices x 7 days of one-minute data), beside the same cycle computed from raw readings.

    python -m bench.checks --days 7 --out bench/results/checks.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from tests.services import fresh_database, private_workdir

from bench import dataset, naive
from bench.ingest import machine
from smartpark.alerts.service import Targets
from smartpark.catalogue import load_catalogue
from smartpark.checks.config import parse_config
from smartpark.checks.runner import run_checks
from smartpark.checks.windows import last_day, month_to_date
from smartpark.ingestion.units import to_canonical
from smartpark.storage.checks import save_config
from smartpark.storage.rollups import refresh_all

HOUR = timedelta(hours=1)
CYCLES = 3  # consecutive hours, each with its new hour of data; the median is reported


def cycles(
    db: Any, all_series: list[dataset.Series], history_end: datetime, catalogue: dict[str, Any]
) -> dict[str, Any]:
    """CYCLES consecutive hours: store the hour's data, run the checks, run the naive cycle."""
    zone = ZoneInfo("Asia/Shanghai")
    targets = Targets("smartpark", ())
    # A running scheduler has loaded pint's unit registry long before (about a second, once
    # per process); load it here too so the cycle measures the cycle.
    to_canonical(1.0, "mg/m3", "kg/m3")
    runs, naive_runs = [], []
    for k in range(CYCLES):
        hour_start = history_end + k * HOUR
        with psycopg.connect(db.url) as raw:
            new_rows = dataset.load(raw, all_series, hour_start, hour_start + HOUR, seed=k)
        at = hour_start + HOUR + timedelta(minutes=5)
        t0 = time.monotonic()
        summary = run_checks(db.engine, at, catalogue, targets)
        runs.append({"seconds": time.monotonic() - t0, "new_readings": new_rows,
                     "results": summary.results, "alerts_opened": summary.opened})  # fmt: skip
        day, month = last_day(at, zone), month_to_date(at, zone)
        with psycopg.connect(db.url) as raw:
            t0 = time.monotonic()
            counts = naive.cycle(raw, dataset.PARK, hour_start + HOUR, day.start, month.start)
            naive_runs.append({"seconds": time.monotonic() - t0, "rows": counts})
    cycle_s = statistics.median(c["seconds"] for c in runs)
    naive_s = statistics.median(n["seconds"] for n in naive_runs)
    return {
        "cycle": {"runs": runs, "median_seconds": cycle_s},
        "naive": {"runs": naive_runs, "median_seconds": naive_s},
        "ratio_naive_over_cycle": naive_s / cycle_s,
    }


def main() -> None:
    """Load, maintain, run cycles, run the naive cycle; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/checks.json"))
    args = parser.parse_args()
    catalogue = load_catalogue()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    history_end = now - CYCLES * HOUR
    start = history_end - timedelta(days=args.days)
    registry = dataset.write_registry(private_workdir() / "bench-registry.yaml")
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(),
                               "command": " ".join(sys.argv), "machine": machine()}  # fmt: skip
    with fresh_database(True, registry) as db:
        config = parse_config(dataset.checks_config(), "bench", set(catalogue))
        with db.engine.begin() as conn:
            save_config(conn, dataset.PARK, config.model_dump(mode="json"), "bench", None)
        with psycopg.connect(db.url) as raw:
            all_series = dataset.series(raw)
            t0 = time.monotonic()
            rows = dataset.load(raw, all_series, start, history_end)
            load_s = time.monotonic() - t0
            raw.execute("ANALYZE reading")
            raw.commit()
        t0 = time.monotonic()
        with db.engine.begin() as conn:
            hours = refresh_all(conn)
        maintain_s = time.monotonic() - t0
        results["dataset"] = {
            "devices": 500, "series": len(all_series), "days": args.days, "readings": rows,
            "load_seconds": load_s,
        }  # fmt: skip
        results["maintenance"] = {
            "readings": rows, "hours_recomputed": hours, "seconds": maintain_s,
            "seconds_per_million_readings": maintain_s / (rows / 1e6),
        }  # fmt: skip
        results |= cycles(db, all_series, history_end, catalogue)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
