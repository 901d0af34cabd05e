"""The device contract (docs/mqtt.md) as pure functions: topic and payload in, readings out."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson

from smartpark.errors import RejectedReading
from smartpark.ingestion.senml import parse_senml
from smartpark.ingestion.types import (
    DeviceRef,
    Limits,
    ParseContext,
    Parsed,
    RawReading,
    Reading,
    Registry,
    Rejection,
)
from smartpark.ingestion.units import to_canonical

FLAGS = frozenset("NFMSDCTB")
STATUSES = frozenset({"online", "offline"})


def parse_message(topic: str, payload: bytes, ctx: ParseContext, now: datetime) -> Parsed:
    """Validate one MQTT message against the contract; never raises for bad input."""
    registry, limits = ctx.registry, ctx.limits
    try:
        park, enterprise, code, channel = _split_topic(topic, ctx.prefix)
        device = _device(registry, park, enterprise, code)
        if len(payload) > limits.max_payload_bytes:
            raise RejectedReading(
                f"payload is {len(payload)} bytes, over the limit of {limits.max_payload_bytes}"
            )
    except RejectedReading as exc:
        return Parsed(rejections=[Rejection(str(exc))])
    if channel == "status":
        return _parse_status(device, payload)
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Parsed(device, rejections=[Rejection(f"payload is not valid UTF-8 JSON: {exc}")])
    try:
        if isinstance(doc, list):
            seq, raws = None, parse_senml(doc)
        else:
            seq, raws = _parse_native(doc)
    except RejectedReading as exc:
        return Parsed(device, rejections=[Rejection(str(exc))])
    result = Parsed(device, seq=seq)
    times: dict[tuple[type, Any], datetime] = {}  # the message's ts is parsed once, not per reading
    for index, raw in enumerate(raws):
        try:
            result.readings.append(_reading(raw, device, registry, limits, now, times))
        except RejectedReading as exc:
            result.rejections.append(Rejection(str(exc), index))
    return result


def _split_topic(topic: str, prefix: str) -> tuple[str, str, str, str]:
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != prefix or parts[4] not in ("telemetry", "status"):
        raise RejectedReading(
            f"topic {topic!r} does not match {prefix}/{{park}}/{{enterprise}}/{{device}}/"
            "telemetry or .../status"
        )
    return parts[1], parts[2], parts[3], parts[4]


def _device(registry: Registry, park: str, enterprise: str, code: str) -> DeviceRef:
    device = registry.devices.get((park, code))
    if device is None:
        raise RejectedReading(f"unknown device {code!r} in park {park!r}")
    if device.enterprise != enterprise:
        raise RejectedReading(
            f"device {code!r} is registered under enterprise {device.enterprise!r}, "
            f"not {enterprise!r}"
        )
    return device


def _parse_status(device: DeviceRef, payload: bytes) -> Parsed:
    status = payload.decode("utf-8", "replace").strip().lower()
    if status not in STATUSES:
        return Parsed(
            device, rejections=[Rejection(f"status must be online or offline, got {status[:40]!r}")]
        )
    return Parsed(device, status=status)


def _parse_native(doc: Any) -> tuple[int | None, list[RawReading]]:
    if not isinstance(doc, dict):
        raise RejectedReading("payload must be a JSON object or a SenML array")
    readings = doc.get("readings")
    if not isinstance(readings, list) or not readings:
        raise RejectedReading("payload has no 'readings' list (or it is empty)")
    seq = doc.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        raise RejectedReading(f"seq must be a non-negative integer, got {seq!r}")
    message_ts = doc.get("ts")
    raws = []
    for item in readings:
        if not isinstance(item, dict):
            raws.append(RawReading(None, None, None, None, None))
            continue
        ts = item.get("ts", message_ts)
        raws.append(
            RawReading(
                item.get("metric"), item.get("value"), item.get("unit"), item.get("flag"), ts
            )
        )
    return seq, raws


def _reading(
    raw: RawReading,
    device: DeviceRef,
    registry: Registry,
    limits: Limits,
    now: datetime,
    times: dict[tuple[type, Any], datetime],
) -> Reading:
    if raw.error is not None:
        raise RejectedReading(raw.error)
    if not isinstance(raw.metric, str):
        raise RejectedReading("reading is not an object with a 'metric' name")
    metric = registry.metrics.get(raw.metric)
    if metric is None:
        raise RejectedReading(f"unknown metric {raw.metric!r}")
    if metric.id not in device.metric_ids:
        raise RejectedReading(f"metric {raw.metric!r} is not registered for device {device.code!r}")
    value = raw.value
    if type(value) not in (int, float) or not math.isfinite(value):
        raise RejectedReading(f"value of {raw.metric} must be a finite number, got {value!r}")
    if raw.unit is not None:
        if not isinstance(raw.unit, str):
            raise RejectedReading(f"unit of {raw.metric} must be a string, got {raw.unit!r}")
        value = to_canonical(float(value), raw.unit, metric.unit)
    flag = "N" if raw.flag is None else raw.flag
    if flag not in FLAGS:
        raise RejectedReading(f"flag {flag!r} of {raw.metric} is not one of N F M S D C T B")
    if type(raw.ts) in (str, int, float):
        key = (type(raw.ts), raw.ts)  # the type too: True must not hit a cached 1
        time = times.get(key)
        if time is None:
            time = times[key] = parse_timestamp(raw.ts, raw.metric)
    else:
        time = parse_timestamp(raw.ts, raw.metric)  # None, or a type it will name as wrong
    check_window(time, now, limits, raw.metric)
    return Reading(device.id, metric.id, time, float(value), flag)


def parse_timestamp(ts: Any, metric: str) -> datetime:
    """RFC 3339 with an offset, or epoch milliseconds, as an aware UTC datetime."""
    if ts is None:
        raise RejectedReading(
            f"reading {metric} has no timestamp (neither its own nor the message's)"
        )
    if type(ts) in (int, float):
        if not math.isfinite(ts):
            raise RejectedReading(f"timestamp of {metric} is not a finite number")
        try:
            return datetime.fromtimestamp(ts / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            raise RejectedReading(f"timestamp {ts!r} of {metric} is out of range") from None
    if isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts)
        except ValueError:
            raise RejectedReading(f"timestamp {ts!r} of {metric} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise RejectedReading(f"timestamp {ts!r} of {metric} has no UTC offset")
        return parsed.astimezone(UTC)
    raise RejectedReading(f"timestamp of {metric} must be RFC 3339 text or epoch milliseconds")


def check_window(time: datetime, now: datetime, limits: Limits, metric: str) -> None:
    """Reject absurd times: too far in the past, or in the future beyond the clock skew."""
    if time > now + limits.max_clock_skew:
        raise RejectedReading(
            f"timestamp {time.isoformat()} of {metric} is more than "
            f"{limits.max_clock_skew} in the future"
        )
    if time < now - limits.max_reading_age:
        raise RejectedReading(
            f"timestamp {time.isoformat()} of {metric} is older than the accepted "
            f"{limits.max_reading_age.days} days"
        )
