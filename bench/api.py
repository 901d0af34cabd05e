"""API benchmark: the dashboard's main queries under concurrent load from a separate process.

`smartpark serve` (one uvicorn worker) on a database with the standard dataset's 500 devices
(2 days of one-minute data, checks run, 2,000 alerts) and 30 days of one-minute data for one
stack analyser; a load process with N threads requests one query for S seconds at a time.

    python -m bench.api --seconds 15 --concurrency 8 --out bench/results/api.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.services import fresh_database, private_workdir

from bench import dataset
from bench.ingest import machine
from smartpark.alerts.service import Targets
from smartpark.api.security import new_secret
from smartpark.catalogue import load_catalogue
from smartpark.checks.config import parse_config
from smartpark.checks.runner import run_checks
from smartpark.storage.checks import save_config
from smartpark.storage.users import add_credential, create_user

ROOT = Path(__file__).resolve().parents[1]
HOUR = timedelta(hours=1)
SERIES_DEVICE = "e00-cems-00"


def prepare(
    db_url: str, engine: Any, now: datetime, history_hours: float, series_days: float
) -> dict[str, Any]:
    """Load the data, run the checks once, add alert history; returns the data volume."""
    catalogue = load_catalogue()
    config = parse_config(dataset.checks_config(), "bench", set(catalogue))
    with engine.begin() as conn:
        save_config(conn, dataset.PARK, config.model_dump(mode="json"), "bench", None)
    with psycopg.connect(db_url) as raw:
        every = dataset.series(raw)
        device_id = raw.execute(
            "SELECT id FROM device WHERE code = %s", (SERIES_DEVICE,)
        ).fetchone()
        assert device_id is not None
        long = [s for s in every if s.device_id == device_id[0]]
        others = [s for s in every if s not in long]
        rows = dataset.load(raw, others, now - history_hours * HOUR, now)
        rows += dataset.load(raw, long, now - series_days * 24 * HOUR, now)
        raw.execute(
            "INSERT INTO alert (park_id, enterprise, rule, subject, state, severity, message, "
            "opened_at, last_violation_at, resolved_at) "
            "SELECT %s, 'e0' || (i %% 10), 'bench.history', 'subject-' || i, 'RESOLVED', "
            "'warning', 'benchmark alert ' || i, now() - i * interval '1 minute', "
            "now() - i * interval '1 minute', now() - i * interval '30 seconds' "
            "FROM generate_series(1, 2000) AS i",
            (dataset.PARK,),
        )
        raw.execute("ANALYZE")
        raw.commit()
    run_checks(engine, now + timedelta(minutes=5), catalogue, Targets("smartpark", ()))
    with psycopg.connect(db_url) as raw:
        alerts = raw.execute("SELECT count(*) FROM alert").fetchone()
    return {"readings": rows, "devices": 500, "alerts": alerts[0] if alerts else 0,
            "series_device_days": series_days, "other_devices_hours": history_hours}  # fmt: skip


def token(engine: Any) -> str:
    """An API token for a park-wide viewer."""
    secret, hashed = new_secret()
    with engine.begin() as conn:
        user = create_user(conn, {"username": "bench", "password_hash": "-", "role": "viewer",
                                  "park": dataset.PARK, "enterprise": None})  # fmt: skip
        add_credential(conn, user, hashed, "token", "bench", None)
    return secret


def load(url: str, secret: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """Request `url` from `concurrency` threads for `seconds`; latency percentiles, rate."""
    latencies: list[float] = []
    errors, size = [0], [0]
    lock = threading.Lock()
    # The clock starts when every client is built (creating one loads the CA bundle, which
    # on a busy machine can take a good part of a short run).
    deadline = [0.0]

    def start_clock() -> None:  # run once, when all have arrived and before any goes on
        deadline[0] = time.monotonic() + seconds

    ready = threading.Barrier(concurrency + 1, action=start_clock)

    def worker() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=30) as client:
            ready.wait()
            while time.monotonic() < deadline[0]:
                t0 = time.perf_counter()
                try:
                    response = client.get(url)
                    failed, length = response.status_code != 200, len(response.content)
                except httpx.HTTPError:
                    failed, length = True, 0
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    errors[0] += failed
                    size[0] = length or size[0]

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    started = deadline[0] - seconds
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000  # noqa: E731
    return {"requests": len(ordered), "errors": errors[0], "requests_per_s": len(ordered) / wall,
            "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "mean_ms": statistics.fmean(ordered) * 1000, "response_bytes": size[0]}  # fmt: skip


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# How the load process receives the API token.
CREDENTIAL_ENV = "BENCH_API_BEARER"


def main() -> None:
    """Prepare, serve, load each query from a separate process, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--history-hours", type=float, default=48)
    parser.add_argument("--series-days", type=float, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api.json")
    parser.add_argument("--load", nargs=3, metavar=("URL", "CONCURRENCY", "SECONDS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.load:  # the load process; the token comes in the environment (it may start with
        # "-", which argparse would take for an option, and argv is visible to every user)
        url, concurrency, seconds = args.load
        print(json.dumps(load(url, os.environ[CREDENTIAL_ENV], int(concurrency), float(seconds))))
        return
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    registry = dataset.write_registry(private_workdir() / "bench-registry.yaml")
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "command": " ".join(sys.argv),
                               "machine": machine(), "concurrency": args.concurrency}  # fmt: skip
    with fresh_database(True, registry) as db:
        results["data"] = prepare(db.url, db.engine, now, args.history_hours, args.series_days)
        secret = token(db.engine)
        port = _port()
        env = {**os.environ, "SMARTPARK_DATABASE_URL": db.url, "SMARTPARK_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "serve", "--api-only", "--port", str(port)],
            env=env,
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            for _ in range(600):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise SystemExit(
                            f"smartpark serve exited with {server.returncode}"
                        ) from None
                    time.sleep(0.1)
            start = (now - args.series_days * 24 * HOUR).isoformat()
            queries = {
                "series_30d_hourly": f"{base}/parks/{dataset.PARK}/readings?device={SERIES_DEVICE}"
                f"&metric=emission.so2&metric=emission.o2&start={start}&end={now.isoformat()}"
                "&bucket=1h",
                "overview": f"{base}/parks/{dataset.PARK}/overview",
                "alert_list": f"{base}/parks/{dataset.PARK}/alerts?limit=50",
            }
            results["queries"] = {}
            for name, url in queries.items():
                check = httpx.get(
                    url.replace("+00:00", "Z"), headers={"Authorization": f"Bearer {secret}"},
                    timeout=60,
                )  # fmt: skip
                assert check.status_code == 200, check.text
                out = subprocess.run(
                    [sys.executable, "-m", "bench.api", "--load", url.replace("+00:00", "Z"),
                     str(args.concurrency), str(args.seconds)],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                    env={**os.environ, CREDENTIAL_ENV: secret},
                )  # fmt: skip
                results["queries"][name] = json.loads(out.stdout.strip().splitlines()[-1])
                results["queries"][name]["url"] = url.split("/api/v1")[1]
        finally:
            server.terminate()
            server.wait(30)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
