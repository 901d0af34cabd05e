"""SenML JSON (RFC 8428) records to raw readings, with the RFC's base-field and time rules."""

from __future__ import annotations

from typing import Any

from smartpark.errors import RejectedReading
from smartpark.ingestion.quoting import show
from smartpark.ingestion.types import RawReading

# RFC 8428 §4.5.3: a resolved time below 2**28 is relative to "now". smartpark refuses
# those: a time that depends on when the message arrives would make a redelivery a new reading.
_RELATIVE_LIMIT = 2**28


def parse_senml(records: list[Any]) -> list[RawReading]:
    """Resolve a SenML pack into RawReadings (time as epoch milliseconds)."""
    if not records:
        raise RejectedReading("SenML pack is empty")
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    raws: list[RawReading] = []
    for record in records:
        if not isinstance(record, dict):
            raws.append(RawReading(None, None, None, None, None))
            continue
        if "bn" in record:
            base_name = str(record["bn"])
        if "bt" in record:
            base_time = _number(record["bt"], "bt")
        if "bu" in record:
            base_unit = record["bu"]
        if "bv" in record:
            base_value = _number(record["bv"], "bv")
        name = base_name + str(record.get("n", ""))
        value: Any = record.get("v")
        if type(value) in (int, float):
            value = float(value) + base_value
        unit = record.get("u", base_unit)
        t = record.get("t", 0)
        if type(t) not in (int, float):
            raws.append(
                RawReading(name, value, unit, None, None, f"SenML t must be a number: {show(t)}")
            )
            continue
        seconds = base_time + t
        if seconds == 0:
            raws.append(RawReading(name, value, unit, None, None))  # "no timestamp" downstream
        elif abs(seconds) < _RELATIVE_LIMIT:
            reason = f"SenML time {seconds} is relative to arrival; send an absolute time"
            raws.append(RawReading(name, value, unit, None, None, reason))
        else:
            raws.append(RawReading(name, value, unit, None, seconds * 1000.0))
    return raws


def _number(value: Any, key: str) -> float:
    if type(value) not in (int, float):
        raise RejectedReading(f"SenML {key} must be a number, got {show(value)}")
    return float(value)
