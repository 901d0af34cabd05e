"""Ingestion benchmark in one run: smartpark end to end beside the broker's ceiling (a bare
consumer), the database's ceiling (raw COPY) and a naive consumer (INSERT + commit each).

    python -m bench.ingest --seconds 60 --rate 10000 --out bench/results/ingest.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from tests.services import Mosquitto, fresh_database, private_workdir

from bench.plots import plot
from bench.probe import Probe, add_probe_device

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "simulator" / "scenarios" / "load.yaml"
PY = sys.executable
RUNS = itertools.count()
QUIET = 15.0


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    versions = {}
    for name, command in (
        ("postgresql", ["psql", "--version"]),
        ("mosquitto", ["mosquitto", "-h"]),
    ):
        out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        versions[name] = out.splitlines()[0] if out else "unknown"
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), **versions}  # fmt: skip


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


def end_sessions(port: int, client_ids: list[str]) -> None:
    """Discard the run's persistent sessions, so the broker does not go on queueing the next
    runs' load for ingestors that are gone (a clean start with no expiry ends a session)."""
    for cid in client_ids:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", port, clean_start=True)
        client.loop_start()
        deadline = time.monotonic() + 5
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        client.disconnect()
        client.loop_stop()


def smartpark_run(
    db_url: str, port: int, rate: float, seconds: float, work: Path, *, ingestors: int = 1,
    env_extra: dict[str, str] | None = None, probe_topic: str | None = None,
    profile: Path | None = None, drain: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """`smartpark ingest` as its own process(es); throughput, loss, CPU, peak RSS, and with a
    probe the publish-to-queryable latency, with `profile` a py-spy profile of the first."""
    env = {**os.environ, "SMARTPARK_DATABASE_URL": db_url, "SMARTPARK_MQTT_URL": f"mqtt://127.0.0.1:{port}",
           "SMARTPARK_LOG_LEVEL": "WARNING", **(env_extra or {})}  # fmt: skip
    if ingestors > 1:
        env["SMARTPARK_MQTT_SHARED_GROUP"] = "bench"
    run = next(RUNS)
    ids = [f"bench-ingest-{os.getpid()}-{run}-{i}" for i in range(ingestors)]
    procs = [
        subprocess.Popen([PY, "-m", "smartpark", "ingest"], env=env | {"SMARTPARK_MQTT_CLIENT_ID": cid}, cwd=ROOT)
        for cid in ids
    ]  # fmt: skip
    watched = [psutil.Process(p.pid) for p in procs]
    time.sleep(3)
    samples: list[tuple[float, int]] = []
    peak_rss = 0
    cpu_start = sum(sum(w.cpu_times()[:2]) for w in watched)
    probe = Probe(port, probe_topic, db_url) if probe_topic else None
    publisher = subprocess.Popen(
        [PY, "-m", "smartpark_sim", "load", str(LOAD), "--broker", f"mqtt://127.0.0.1:{port}", "--rate", str(rate),
         "--duration", f"{seconds}s", "--processes", "2", "--manifest", str(work / "smartpark.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    spy, loading = None, False
    latency = None
    # Drained: no new reading for QUIET seconds (a reconnect to the broker can pause a while).
    quiet = int(QUIET / 0.5)
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + seconds * 10 + 600
        while time.monotonic() < deadline:
            count = conn.execute("SELECT count(*) FROM reading").fetchone()[0]  # type: ignore[index]
            samples.append((time.monotonic(), count))
            if count and not loading:
                # The load generator encodes everything first: probe and profile the load
                # itself, from the first stored reading on.
                loading = True
                if probe:
                    probe.start()
                if profile:
                    spy = _spy(procs[0].pid, seconds, profile)
            peak_rss = max(peak_rss, *(w.memory_info().rss for w in watched))
            if publisher.poll() is not None:
                if not drain:
                    break
                if probe is not None and latency is None:
                    latency = probe.stop()  # the load is over; stop probing so counts settle
                if len(samples) > quiet and samples[-quiet][1] == count:
                    break
            time.sleep(0.5)
    cpu = sum(sum(w.cpu_times()[:2]) for w in watched) - cpu_start
    if spy is not None:
        spy.wait(120)
    for p in procs:
        p.terminate()
        p.wait(60)
    end_sessions(port, ids)
    probes = latency["probes_sent"] if latency else 0
    expected = json.loads((work / "smartpark.json").read_text())["expected"]["readings"] + probes
    result = {"ingestors": ingestors, "readings_published": expected,
              **_throughput(samples, expected if drain else None, cpu),
              "ingestor_peak_rss_mb": peak_rss / 2**20}  # fmt: skip
    if latency:
        result["latency"] = latency
    return result


def _throughput(
    samples: list[tuple[float, int]], expected: int | None, cpu: float
) -> dict[str, Any]:
    """Stored readings per second from the first stored reading to the last new one."""
    moving = [s for i, s in enumerate(samples) if i > 0 and s[1] > samples[i - 1][1]]
    first = next(s for s in samples if s[1] > 0)
    elapsed = moving[-1][0] - first[0] if moving else 0.0
    stored = samples[-1][1]
    return {
        "readings_stored": stored, "lost": None if expected is None else expected - stored,
        "seconds": elapsed, "readings_per_s": (stored - first[1]) / elapsed if elapsed else 0.0,
        "ingestor_cpu_seconds": cpu, "ingestor_cpu_share": cpu / elapsed if elapsed else 0.0,
    }  # fmt: skip


def _spy(pid: int, seconds: float, profile: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (raw stacks, 50 Hz) for at most 30 s into `profile`."""
    return subprocess.Popen(
        [str(Path(PY).parent / "py-spy"), "record", "--pid", str(pid), "--duration", str(int(min(seconds, 30))),
         "--rate", "50", "--format", "raw", "--output", str(profile), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


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


def profile_summary(raw: Path, top: int = 15) -> list[dict[str, Any]]:
    """Self time per function from py-spy's raw (collapsed) stacks."""
    if not raw.exists():
        return []
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        name = (
            leaf.split(" (")[0] + " (" + leaf.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
        )
        counts[name] = counts.get(name, 0) + int(n)
        total += int(n)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [{"function": name, "self_share": n / total} for name, n in ranked]


def fresh_run(
    registry: Path, port: int, rate: float, seconds: float, work: Path, **kw: Any
) -> dict[str, Any]:
    """A smartpark run on its own fresh database (the load repeats the same readings)."""
    with fresh_database(True, registry) as db:
        return smartpark_run(db.url, port, rate, seconds, work, **kw)


def main() -> None:
    """Run everything and write the JSON results and the plots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument(
        "--short", type=float, default=30, help="seconds of the latency, scale-out and batch runs"
    )
    parser.add_argument("--batches", default="64,256,1024,4096", help="batch sizes to sweep")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "bench")
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
    probe_topic = add_probe_device(registry)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(), "command": " ".join(sys.argv), "machine": machine(),
        "params": {"seconds": args.seconds, "target_msgs_per_s": args.rate, "readings_per_msg": 5, "short_seconds": args.short},
    }  # fmt: skip
    profile = work / "ingest-profile.txt"
    try:
        results["broker_ceiling"] = reference_consumer(
            "bare", broker.port, args.rate, args.seconds, work
        )
        with fresh_database(True, registry) as db:
            results["smartpark"] = smartpark_run(
                db.url, broker.port, args.rate, args.seconds, work, profile=profile
            )
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE naive_reading (topic text, metric text, time timestamptz, value float8)"
                )
            results["naive"] = reference_consumer(
                "naive", broker.port, args.rate, min(args.seconds, 10), work, db.url
            )
            results["copy_ceiling"] = copy_ceiling(
                db.url, max(int(results["smartpark"]["readings_stored"]), 10_000)
            )
        results["profile"] = profile_summary(profile)
        half = results["smartpark"]["readings_per_s"] / 5 / 2
        results["latency_at_half_rate"] = fresh_run(
            registry, broker.port, half, args.short, work, probe_topic=probe_topic
        ) | {"rate_msgs_per_s": half}
        results["scale_out"] = {
            str(n): fresh_run(registry, broker.port, args.rate, args.short, work, ingestors=n)
            for n in (1, 2)
        }
        # The same one-ingestor run speaking MQTT 3.1.1, where paho builds no MQTT 5
        # Properties per message (the broker's max_inflight_messages is then the window).
        results["mqtt_311"] = fresh_run(
            registry, broker.port, args.rate, args.short, work,
            env_extra={"SMARTPARK_MQTT_PROTOCOL": "3.1.1"},
        )  # fmt: skip
        results["batch_sweep"] = {
            b: fresh_run(
                registry,
                broker.port,
                args.rate,
                args.short,
                work,
                env_extra={"SMARTPARK_BATCH_MAX_MESSAGES": b},
                drain=False,
            )
            for b in args.batches.split(",")
        }
    finally:
        broker.stop()
    sp = results["smartpark"]
    results["ratios"] = {
        "readings_vs_broker_ceiling": sp["readings_per_s"] / (results["broker_ceiling"]["rate"] * 5 or 1),
        "readings_vs_naive": sp["readings_per_s"] / ((results["naive"]["rate"] * 5) or 1),
        "readings_vs_copy_ceiling": sp["readings_per_s"] / results["copy_ceiling"]["rows_per_s"],
        "two_ingestors_vs_one": results["scale_out"]["2"]["readings_per_s"] / (results["scale_out"]["1"]["readings_per_s"] or 1),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    plot(results, args.plots)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
