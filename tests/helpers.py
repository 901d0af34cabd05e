"""Payload builders and stream publishers shared by the end-to-end tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as paho

from tests.services import Publisher

CEMS_METRICS = ["emission.flow", "emission.o2", "emission.so2", "emission.nox", "emission.pm"]


def base_time() -> datetime:
    """A recent whole hour, well inside the accepted window."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def cems_message(seq: int, t0: datetime) -> bytes:
    """Five readings of the test CEMS at t0 + seq seconds, within the metrics' bounds."""
    ts = (t0 + timedelta(seconds=seq)).isoformat()
    return orjson.dumps(
        {
            "ts": ts,
            "seq": seq,
            "readings": [
                {"metric": m, "value": float((seq + i) % 20)} for i, m in enumerate(CEMS_METRICS)
            ],
        }
    )


class Stream:
    """Publishes cems_message(1..count) at QoS 1 from a background thread."""

    def __init__(self, url: str, topic: str, count: int, t0: datetime, pause: float = 0.0):
        self.publisher = Publisher(url)
        self.topic, self.count, self.t0, self.pause = topic, count, t0, pause
        self.sent = 0
        self._infos: list[paho.MQTTMessageInfo] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        idle = threading.Event()
        for seq in range(1, self.count + 1):
            info = self.publisher.publish(self.topic, cems_message(seq, self.t0), wait=False)
            self._infos.append(info)
            self.sent = seq
            if self.pause:
                idle.wait(self.pause)

    def start(self) -> Stream:
        self.thread.start()
        return self

    def finish(self) -> None:
        """Wait until every message was published and acknowledged by the broker."""
        self.thread.join(120)
        for info in self._infos:
            info.wait_for_publish(60)
        self.publisher.close()
