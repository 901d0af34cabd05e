"""A seconds-long smoke run of the benchmark harness (the real numbers come from `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ingestion_benchmark_harness_runs_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest",
            "--seconds",
            "2",
            "--rate",
            "1000",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    result = json.loads(out.read_text())
    assert result["smartpark"]["readings_published"] == 10_000
    assert result["smartpark"]["lost"] == 0
    assert result["broker_ceiling"]["messages"] > 0 and result["naive"]["messages"] > 0
    assert result["copy_ceiling"]["rows"] == 10_000
    assert set(result["ratios"]) == {
        "readings_vs_broker_ceiling",
        "readings_vs_naive",
        "readings_vs_copy_ceiling",
    }
