"""The contract parser alone: `parse_message` per message of the load scenario's shape.

python -m bench.parse   # best of 7 x 5 passes over 2,000 messages of 5 readings
"""

from __future__ import annotations

import inspect
import timeit
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.types import DeviceRef, Limits, MetricRef, ParseContext, Registry

METRICS = {
    "emission.flow": "m3/h",
    "emission.o2": "%",
    "emission.so2": "mg/m3",
    "emission.nox": "mg/m3",
    "emission.pm": "mg/m3",
}
DEVICES = 2000
PASSES, REPEATS = 5, 7


def _context() -> ParseContext:
    # Built from the fields the checkout's types have, so that the same script measures the
    # parser before and after a change of its bounds.
    bounded = "minimum" in MetricRef.__slots__
    metrics = {
        name: MetricRef(i + 1, unit, 0.0, 25.0 if unit == "%" else None)
        if bounded
        else MetricRef(i + 1, unit)
        for i, (name, unit) in enumerate(METRICS.items())
    }
    devices = {
        ("load-park", f"cems-{k}"): DeviceRef(
            k, "load-park", "ent", f"cems-{k}", frozenset(range(1, 6))
        )
        for k in range(DEVICES)
    }
    limits: dict[str, Any] = {
        "max_payload_bytes": 64 * 1024,
        "max_reading_age": timedelta(days=1827),
        "max_clock_skew": timedelta(minutes=10),
    }
    if "max_readings" in inspect.signature(Limits).parameters:
        limits |= {"max_readings": 1000, "max_depth": 16}
    return ParseContext(Registry(devices, metrics), Limits(**limits), "smartpark")


def main() -> None:
    """Time the parser and print microseconds per message."""
    ctx, now = _context(), datetime.now(UTC)
    messages = [
        (
            f"smartpark/load-park/ent/cems-{k}/telemetry",
            orjson.dumps(
                {
                    "ts": (now - timedelta(seconds=k)).isoformat(),
                    "seq": k,
                    "readings": [
                        {"metric": name, "value": 10.0 + i} for i, name in enumerate(METRICS)
                    ],
                }
            ),
        )
        for k in range(DEVICES)
    ]

    def run() -> None:
        for topic, payload in messages:
            if parse_message(topic, payload, ctx, now).rejections:
                raise SystemExit(f"a benchmark message was rejected: {topic}")

    best = min(timeit.repeat(run, number=PASSES, repeat=REPEATS)) / (PASSES * DEVICES)
    print(f"parse_message: {best * 1e6:.2f} µs a message")


if __name__ == "__main__":
    main()
