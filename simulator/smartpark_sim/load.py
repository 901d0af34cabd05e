"""Load mode: thousands of devices at a target message rate, spread over processes."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smartpark_sim.engine import DeviceSim
from smartpark_sim.manifest import Manifest
from smartpark_sim.scenario import load_scenario
from smartpark_sim.wire import Packet, WirePublisher, encode


@dataclass(frozen=True, slots=True)
class LoadJob:
    """One worker process's share."""

    scenario: Path
    device_ids: list[str]
    broker_host: str
    broker_port: int
    rate: float  # messages per second for this worker
    messages: int
    connections: int
    t0: datetime
    worker: int


# Messages per write: small enough to pace the rate evenly, large enough to amortise the call.
CHUNK = 64


def run_worker(job: LoadJob) -> dict[str, Any]:
    """Publish job.messages round-robin over the devices at job.rate; report what was done.

    Every message is generated and encoded before the clock starts, so that the timed phase
    costs the machine only the writes (see smartpark_sim.wire)."""
    scenario = load_scenario(job.scenario)
    wanted = set(job.device_ids)
    sims = [DeviceSim(scenario, e, d, job.t0) for e, d in scenario.devices() if d.id in wanted]
    manifest = Manifest(job.scenario.name, scenario.seed, "load")
    packets: list[Packet] = []
    for k in range(job.messages):
        sim = sims[k % len(sims)]
        t = job.t0 + timedelta(seconds=(k // len(sims)) * sim.spec.interval)
        for item in sim.tick(t):
            packets.append(encode(item.topic, item.payload))
            manifest.record(item)
    clients = [
        WirePublisher(job.broker_host, job.broker_port, f"sim-load-{job.worker}-{i}")
        for i in range(job.connections)
    ]
    started = time.monotonic()
    for n, first in enumerate(range(0, len(packets), CHUNK)):
        clients[n % len(clients)].publish(packets[first : first + CHUNK])
        ahead = (first + CHUNK) / job.rate - (time.monotonic() - started)
        if ahead > 0.005:
            time.sleep(ahead)
    for client in clients:
        client.close()
    elapsed = time.monotonic() - started
    return {"manifest": manifest.to_dict(), "elapsed": elapsed, "messages": len(packets)}


def run_load(
    scenario_path: Path,
    broker: tuple[str, int],
    *,
    rate: float,
    duration: float,
    processes: int,
    connections: int,
) -> dict[str, Any]:
    """Split the fleet over processes; returns the merged manifest and the achieved rate."""
    scenario = load_scenario(scenario_path)
    devices = [d.id for _, d in scenario.devices()]
    total = int(rate * duration)
    interval = max(d.interval for _, d in scenario.devices())
    span = timedelta(seconds=(total // max(len(devices), 1) + 1) * interval)
    t0 = datetime.now(UTC).replace(microsecond=0) - span  # the newest data is about now
    jobs = [
        LoadJob(
            scenario_path, devices[w::processes], broker[0], broker[1], rate / processes,
            total // processes + (1 if w < total % processes else 0), connections, t0, w,
        )
        for w in range(processes)
    ]  # fmt: skip
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(run_worker, jobs)
    merged = merge([r["manifest"] for r in results])
    elapsed = max(r["elapsed"] for r in results)
    sent = sum(r["messages"] for r in results)
    merged["load"] = {
        "target_rate": rate,
        "messages": sent,
        "seconds": elapsed,
        "achieved_rate": sent / elapsed,
    }
    return merged


def merge(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine manifests of disjoint device sets."""
    out = dict(manifests[0])
    out["devices"] = {}
    out["expected"] = dict.fromkeys(manifests[0]["expected"], 0)
    out["dead_letter_messages"] = {}
    for m in manifests:
        out["devices"].update(m["devices"])
        for key, value in m["expected"].items():
            out["expected"][key] += value
        for key, value in m["dead_letter_messages"].items():
            out["dead_letter_messages"][key] = out["dead_letter_messages"].get(key, 0) + value
    return out
