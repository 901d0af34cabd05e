"""Ingestion benchmark in one run: smartpark end to end beside the broker's ceiling (a bare
consumer), the database's ceiling (raw COPY) and a naive consumer (INSERT + commit each).

    python -m bench.ingest --seconds 60 --rate 10000 --out bench/results/ingest.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg
from tests.services import Mosquitto, fresh_database, private_workdir

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "simulator" / "scenarios" / "load.yaml"
PY = sys.executable


def publish(port: int, rate: float, seconds: float, manifest: Path) -> dict[str, Any]:
    """The simulator's load mode: 2 processes, 2 connections each, 5 readings a message."""
    subprocess.run(
        [PY, "-m", "smartpark_sim", "load", str(LOAD), "--broker", f"mqtt://127.0.0.1:{port}",
         "--rate", str(rate), "--duration", f"{seconds}s", "--processes", "2", "--manifest", str(manifest)],
        check=True, capture_output=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(manifest.read_text())
    return result


def reference_consumer(
    kind: str, port: int, rate: float, seconds: float, work: Path, db_url: str | None = None
) -> dict[str, Any]:
    """Run a reference consumer process against a load run; its measured rate."""
    args = [PY, "-m", "bench.consumers", kind, str(port), str(seconds * 0.8)] + (
        [db_url] if db_url else []
    )
    consumer = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert consumer.stdout is not None
    consumer.stdout.readline()  # "ready"
    load = publish(port, rate, seconds, work / f"{kind}.json")
    out, _ = consumer.communicate(timeout=seconds * 4 + 60)
    measured = json.loads(out.strip().splitlines()[-1])
    measured["published_rate"] = load["load"]["achieved_rate"]
    return measured


def smartpark_run(
    db_url: str, port: int, rate: float, seconds: float, work: Path
) -> dict[str, Any]:
    """`smartpark ingest` as its own process; throughput, loss, CPU and peak RSS."""
    env = {**os.environ, "SMARTPARK_DATABASE_URL": db_url, "SMARTPARK_MQTT_URL": f"mqtt://127.0.0.1:{port}",
           "SMARTPARK_MQTT_CLIENT_ID": "bench-ingest", "SMARTPARK_LOG_LEVEL": "WARNING"}  # fmt: skip
    ingest = subprocess.Popen([PY, "-m", "smartpark", "ingest"], env=env, cwd=ROOT)
    proc = psutil.Process(ingest.pid)
    time.sleep(3)
    samples: list[tuple[float, int]] = []
    peak_rss = 0
    cpu_start = proc.cpu_times()
    publisher = subprocess.Popen(
        [PY, "-m", "smartpark_sim", "load", str(LOAD), "--broker", f"mqtt://127.0.0.1:{port}", "--rate", str(rate),
         "--duration", f"{seconds}s", "--processes", "2", "--manifest", str(work / "smartpark.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + seconds * 4 + 120
        while time.monotonic() < deadline:
            count = conn.execute("SELECT count(*) FROM reading").fetchone()[0]  # type: ignore[index]
            samples.append((time.monotonic(), count))
            peak_rss = max(peak_rss, proc.memory_info().rss)
            if publisher.poll() is not None and len(samples) > 4 and samples[-4][1] == count:
                break
            time.sleep(0.5)
    cpu_end = proc.cpu_times()
    ingest.terminate()
    ingest.wait(60)
    expected = json.loads((work / "smartpark.json").read_text())["expected"]["readings"]
    moving = [s for i, s in enumerate(samples) if i > 0 and s[1] > samples[i - 1][1]]
    first = next(s for s in samples if s[1] > 0)
    elapsed = moving[-1][0] - first[0] if moving else 0.0
    stored = samples[-1][1]
    cpu = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
    return {
        "readings_stored": stored, "readings_published": expected, "lost": expected - stored,
        "seconds": elapsed, "readings_per_s": (stored - first[1]) / elapsed if elapsed else 0.0,
        "ingestor_cpu_seconds": cpu, "ingestor_cpu_share": cpu / elapsed if elapsed else 0.0,
        "ingestor_peak_rss_mb": peak_rss / 2**20,
    }  # fmt: skip


def copy_ceiling(db_url: str, rows: int) -> dict[str, Any]:
    """Raw COPY of `rows` readings into a hypertable shaped like `reading`, 5,000 per batch."""
    t0 = datetime.now(UTC) - timedelta(hours=1)
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE copy_bench (LIKE reading INCLUDING ALL)")
        conn.execute(
            "SELECT create_hypertable('copy_bench', 'time', create_default_indexes => false)"
        )
        conn.commit()
        started = time.monotonic()
        for batch in range(0, rows, 5000):
            with conn.cursor().copy(
                "COPY copy_bench (device_id, metric_id, time, value, flag) FROM STDIN"
            ) as copy:
                for i in range(batch, min(batch + 5000, rows)):
                    copy.write_row(
                        (i % 2000, i % 5 + 1, t0 + timedelta(microseconds=i), float(i), "N")
                    )
            conn.commit()
        elapsed = time.monotonic() - started
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


def main() -> None:
    """Run everything and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    args = parser.parse_args()
    work = private_workdir()
    broker = Mosquitto(work)
    broker.start()
    registry = work / "registry.yaml"
    registry.write_text(
        subprocess.run(
            [PY, "-m", "smartpark_sim", "registry", str(LOAD)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(), "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()},
        "params": {"seconds": args.seconds, "target_msgs_per_s": args.rate, "readings_per_msg": 5},
    }  # fmt: skip
    try:
        with fresh_database(True, registry) as db:
            results["broker_ceiling"] = reference_consumer(
                "bare", broker.port, args.rate, args.seconds, work
            )
            results["smartpark"] = smartpark_run(db.url, broker.port, args.rate, args.seconds, work)
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE naive_reading (topic text, metric text, time timestamptz, value float8)"
                )
            naive_seconds = min(args.seconds, 10)
            results["naive"] = reference_consumer(
                "naive", broker.port, args.rate, naive_seconds, work, db.url
            )
            results["copy_ceiling"] = copy_ceiling(
                db.url, max(int(results["smartpark"]["readings_stored"]), 10_000)
            )
    finally:
        broker.stop()
    sp = results["smartpark"]
    results["ratios"] = {
        "readings_vs_broker_ceiling": sp["readings_per_s"]
        / (results["broker_ceiling"]["rate"] * 5 or 1),
        "readings_vs_naive": sp["readings_per_s"] / ((results["naive"]["rate"] * 5) or 1),
        "readings_vs_copy_ceiling": sp["readings_per_s"] / results["copy_ceiling"]["rows_per_s"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
