"""Publish-to-queryable latency: a probe device publishes a reading stamped with the wall
clock every 50 ms while the load runs; a poller sees when each becomes visible in `reading`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import psycopg
import yaml
from paho.mqtt.enums import CallbackAPIVersion

PROBE = "bench-probe"
INTERVAL = 0.05
POLL = 0.005


def add_probe_device(registry: Path) -> str:
    """Register the probe device in the registry file's first enterprise; returns its topic."""
    doc = yaml.safe_load(registry.read_text())
    park = doc["parks"][0]
    enterprise = park["enterprises"][0]
    enterprise["devices"].append({"id": PROBE, "kind": "probe", "metrics": ["emission.so2"]})
    registry.write_text(yaml.safe_dump(doc, sort_keys=False))
    return f"smartpark/{park['id']}/{enterprise['id']}/{PROBE}/telemetry"


class Probe:
    """Runs the probe publisher and the poller until stopped; latencies in seconds."""

    def __init__(self, port: int, topic: str, db_url: str) -> None:
        self._port, self._topic, self._db_url = port, topic, db_url
        self._stop, self._stop_publishing = threading.Event(), threading.Event()
        self.sent: dict[int, float] = {}  # epoch ms stamped -> wall time published
        self.latencies: list[float] = []
        self._threads = [
            threading.Thread(target=self._publish),
            threading.Thread(target=self._poll),
        ]

    def start(self) -> None:
        """Begin publishing and polling."""
        for t in self._threads:
            t.start()

    def stop(self) -> dict[str, Any]:
        """Stop publishing, wait (up to 30 s) until the poller has seen every probe, summarise."""
        self._stop_publishing.set()
        self._threads[0].join()
        deadline = time.monotonic() + 30
        while len(self.latencies) < len(self.sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._threads[1].join()
        ordered = sorted(self.latencies)
        pick = lambda q: ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000  # noqa: E731
        return {"probes_sent": len(self.sent), "probes_seen": len(ordered),
                "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99),
                "max_ms": ordered[-1] * 1000, "poll_resolution_ms": POLL * 1000,
                "latencies_ms": [round(v * 1000, 1) for v in self.latencies]}  # fmt: skip

    def _publish(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=PROBE, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", self._port)
        client.loop_start()
        seq = 0
        while not self._stop_publishing.is_set():
            now = time.time()
            stamp = int(now * 1000)
            payload = {
                "ts": stamp,
                "seq": seq,
                "readings": [{"metric": "emission.so2", "value": 1.0}],
            }
            self.sent[stamp] = now
            client.publish(self._topic, orjson.dumps(payload), qos=1)
            seq += 1
            time.sleep(INTERVAL)
        client.loop_stop()
        client.disconnect()

    def _poll(self) -> None:
        seen = datetime.fromtimestamp(0, UTC)
        with psycopg.connect(self._db_url, autocommit=True) as conn:
            device = None
            while device is None and not self._stop.is_set():
                row = conn.execute("SELECT id FROM device WHERE code = %s", (PROBE,)).fetchone()
                device = row[0] if row else None
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT time FROM reading WHERE device_id = %s AND time > %s ORDER BY time",
                    (device, seen),
                ).fetchall()
                now = time.time()
                for (t,) in rows:
                    published = self.sent.get(round(t.timestamp() * 1000))
                    if published is not None:
                        self.latencies.append(now - published)
                    seen = t
                time.sleep(POLL)
