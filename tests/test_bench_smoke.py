"""Seconds-long smoke runs of the benchmark harness (the real numbers come from `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}:\n{done.stderr[-4000:]}"


def test_ingestion_benchmark_harness_runs_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    _run("bench.ingest", "--seconds", "2", "--short", "2", "--rate", "1000",
         "--batches", "256,4096", "--out", str(out), "--plots", str(tmp_path))  # fmt: skip
    result = json.loads(out.read_text())
    assert result["smartpark"]["readings_published"] == 10_000
    runs = [result["smartpark"], result["latency_at_half_rate"], *result["scale_out"].values(),
            result["mqtt_311"]]  # fmt: skip
    assert [r["lost"] for r in runs] == [0] * 5
    # The batch sweep measures the rate while the load runs (slow batch sizes never drain).
    assert [r["lost"] for r in result["batch_sweep"].values()] == [None, None]
    assert [r["ingestors"] for r in result["scale_out"].values()] == [1, 2]
    latency = result["latency_at_half_rate"]["latency"]
    assert latency["probes_seen"] == latency["probes_sent"] == len(latency["latencies_ms"])
    assert result["copy_ceiling"]["rows"] == 10_000
    assert set(result["ratios"]) == {
        "readings_vs_broker_ceiling", "readings_vs_naive", "readings_vs_copy_ceiling",
        "two_ingestors_vs_one",
    }  # fmt: skip
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "ingest-batch-size.png", "ingest-latency.png",
    ]  # fmt: skip


def test_checks_benchmark_harness(tmp_path: Path) -> None:
    out = tmp_path / "checks.json"
    # A day and a bit, so the last complete local day always has data, whatever the hour.
    _run("bench.checks", "--days", "1.1", "--out", str(out))
    result = json.loads(out.read_text())
    # 1,000 series x 1,584 minutes; 3 cycles, each with its new hour and 355 verdicts: 2 ratios
    # x (day, month) x (10 enterprises + park) + 100 outlets x (hourly, daily) + 100 permits
    # + 11 carbon accounts.
    assert result["dataset"]["readings"] == 1_584_000
    assert [c["new_readings"] for c in result["cycle"]["runs"]] == [60_000] * 3
    assert [c["results"] for c in result["cycle"]["runs"]] == [355] * 3
    assert len(result["naive"]["runs"]) == 3


def test_api_benchmark_harness(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    _run("bench.api", "--seconds", "1", "--concurrency", "2", "--history-hours", "2",
         "--series-days", "1", "--out", str(out))  # fmt: skip
    result = json.loads(out.read_text())
    assert set(result["queries"]) == {"series_30d_hourly", "overview", "alert_list"}
    assert [q["errors"] for q in result["queries"].values()] == [0, 0, 0]
