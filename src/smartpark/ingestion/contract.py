"""The device contract (docs/mqtt.md) as pure functions: topic and payload in, readings out."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from smartpark.errors import RejectedReading
from smartpark.ingestion.quoting import quote, show
from smartpark.ingestion.senml import parse_senml
from smartpark.ingestion.structure import check_structure
from smartpark.ingestion.types import (
    DeviceRef,
    Limits,
    MetricRef,
    ParseContext,
    Parsed,
    RawReading,
    Reading,
    Registry,
    Rejection,
)
from smartpark.ingestion.units import device_conversion

log = logging.getLogger(__name__)

FLAGS = frozenset("NFMSDCTB")
STATUSES = frozenset({"online", "offline"})
# `seq` is stored in PostgreSQL bigint columns (device.last_seq, data_quality_event.seq_*).
MAX_SEQ = 2**63 - 1
# The width of metric.name: no longer name can be in the catalogue.
MAX_METRIC_NAME = 128
# RFC 3339 with nanoseconds and an offset is 35 characters; anything much longer is not one.
MAX_TIMESTAMP_TEXT = 64


class _BugLog:
    """A traceback at most every `interval` seconds; the errors in between are counted."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = -interval
        self._since = 0

    def report(self, topic: str, error: Exception) -> None:
        """Log `error` with its traceback, unless one was logged a moment ago."""
        now = time.monotonic()
        if now - self._last < self._interval:
            self._since += 1
            return
        log.error(
            "unexpected error parsing a message on %s (%d more since the last report)",
            quote(topic),
            self._since,
            exc_info=error,
        )
        self._last, self._since = now, 0


# A bug a device can trigger would otherwise write a traceback per message.
_BUG_LOG = _BugLog(interval=60.0)


def parse_message(topic: str, payload: bytes, ctx: ParseContext, now: datetime) -> Parsed:
    """Validate one MQTT message against the contract; never raises, whatever it holds."""
    try:
        return _parse(topic, payload, ctx, now)
    except Exception as exc:  # input must end as a dead letter, never escape
        # A bug of ours, not the device's: loud in the log (once a minute, however fast a
        # device repeats it), yet confined to this message.
        _BUG_LOG.report(topic, exc)
        reason = f"message could not be parsed ({type(exc).__name__}); reported as a bug"
        return Parsed(rejections=[Rejection(reason)])


def _parse(topic: str, payload: bytes, ctx: ParseContext, now: datetime) -> Parsed:
    registry, limits = ctx.registry, ctx.limits
    try:
        park, enterprise, code, channel = _split_topic(topic, ctx.prefix)
    except RejectedReading as exc:
        return Parsed(rejections=[Rejection(str(exc))])
    try:
        device = _device(registry, park, enterprise, code)
    except RejectedReading as exc:
        known = park if park in registry.parks else None
        return Parsed(park=known, rejections=[Rejection(str(exc))])
    if len(payload) > limits.max_payload_bytes:
        reason = f"payload is {len(payload)} bytes, over the limit of {limits.max_payload_bytes}"
        return Parsed(device, park, rejections=[Rejection(reason)])
    if channel == "status":
        return _parse_status(device, payload)
    try:
        doc = _load(payload, limits)
        if isinstance(doc, list):
            if len(doc) > limits.max_readings:
                raise RejectedReading(_too_many(len(doc), limits))
            seq, raws = None, parse_senml(doc)
        else:
            seq, raws = _parse_native(doc, limits)
    except RejectedReading as exc:
        return Parsed(device, park, rejections=[Rejection(str(exc))])
    result = Parsed(device, park, seq=seq, total=len(raws))
    times: dict[tuple[type, Any], datetime] = {}  # the message's ts is parsed once, not per reading
    for index, raw in enumerate(raws):
        try:
            result.readings.append(_reading(raw, device, registry, limits, now, times))
        except RejectedReading as exc:
            result.rejections.append(Rejection(str(exc), index))
    return result


def _load(payload: bytes, limits: Limits) -> Any:
    if not payload:
        raise RejectedReading("payload is empty")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RejectedReading(f"payload is not valid UTF-8 JSON: {str(exc)[:120]}") from None
    check_structure(payload, doc, max_depth=limits.max_depth)
    return doc


def _too_many(count: int, limits: Limits) -> str:
    return f"message holds {count} readings, over the limit of {limits.max_readings}"


def _split_topic(topic: str, prefix: str) -> tuple[str, str, str, str]:
    parts = topic.split("/", 5)
    if len(parts) != 5 or parts[0] != prefix or parts[4] not in ("telemetry", "status"):
        raise RejectedReading(
            f"topic {quote(topic)} does not match {prefix}/{{park}}/{{enterprise}}/{{device}}/"
            "telemetry or .../status"
        )
    return parts[1], parts[2], parts[3], parts[4]


def _device(registry: Registry, park: str, enterprise: str, code: str) -> DeviceRef:
    device = registry.devices.get((park, code))
    if device is None:
        raise RejectedReading(f"unknown device {quote(code)} in park {quote(park)}")
    if device.enterprise != enterprise:
        raise RejectedReading(
            f"device {code!r} is registered under enterprise {device.enterprise!r}, "
            f"not {quote(enterprise)}"
        )
    return device


def _parse_status(device: DeviceRef, payload: bytes) -> Parsed:
    # Enough of the payload for any spelling of the two words with whitespace around them.
    status = payload[:64].decode("utf-8", "replace").strip().lower()
    if status not in STATUSES:
        reason = f"status must be online or offline, got {quote(status)}"
        return Parsed(device, device.park, rejections=[Rejection(reason)])
    return Parsed(device, device.park, status=status)


def _parse_native(doc: Any, limits: Limits) -> tuple[int | None, list[RawReading]]:
    if not isinstance(doc, dict):
        raise RejectedReading("payload must be a JSON object or a SenML array")
    readings = doc.get("readings")
    if not isinstance(readings, list) or not readings:
        raise RejectedReading("payload has no 'readings' list (or it is empty)")
    if len(readings) > limits.max_readings:
        raise RejectedReading(_too_many(len(readings), limits))
    seq = doc.get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq <= MAX_SEQ):
        raise RejectedReading(f"seq must be an integer from 0 to 2^63-1, got {show(seq)}")
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
    name = raw.metric
    if not isinstance(name, str):
        raise RejectedReading("reading is not an object with a 'metric' name")
    if len(name) > MAX_METRIC_NAME:
        raise RejectedReading(
            f"metric name {quote(name)} is longer than {MAX_METRIC_NAME} characters"
        )
    metric = registry.metrics.get(name)
    if metric is None:
        raise RejectedReading(f"unknown metric {quote(name)}")
    if metric.id not in device.metric_ids:
        raise RejectedReading(f"metric {name!r} is not registered for device {device.code!r}")
    value = _value(raw, name, metric)
    flag = "N" if raw.flag is None else raw.flag
    if type(flag) is not str or flag not in FLAGS:
        raise RejectedReading(f"flag {show(flag)} of {name} is not one of N F M S D C T B")
    if type(raw.ts) in (str, int, float):
        key = (type(raw.ts), raw.ts)  # the type too: True must not hit a cached 1
        time = times.get(key)
        if time is None:
            time = times[key] = parse_timestamp(raw.ts, name)
    else:
        time = parse_timestamp(raw.ts, name)  # None, or a type it will name as wrong
    check_window(time, now, limits, name)
    return Reading(device.id, metric.id, time, value, flag)


def _value(raw: RawReading, name: str, metric: MetricRef) -> float:
    """The value in the canonical unit: finite after conversion and within physical bounds."""
    value = raw.value
    if type(value) not in (int, float) or not math.isfinite(value):
        raise RejectedReading(f"value of {name} must be a finite number, got {show(value)}")
    value = float(value)
    if raw.unit is not None:
        if not isinstance(raw.unit, str):
            raise RejectedReading(f"unit of {name} must be a string, got {show(raw.unit)}")
        scale, offset = device_conversion(raw.unit, metric.unit)
        converted = value * scale + offset
        if not math.isfinite(converted):
            raise RejectedReading(
                f"value {value!r} {raw.unit} of {name} is not a finite number in {metric.unit}"
            )
        value = converted
    if metric.minimum is not None and value < metric.minimum:
        raise RejectedReading(
            f"value {value!r} {metric.unit} of {name} is below its physical minimum "
            f"{metric.minimum:g} {metric.unit}"
        )
    if metric.maximum is not None and value > metric.maximum:
        raise RejectedReading(
            f"value {value!r} {metric.unit} of {name} is above its physical maximum "
            f"{metric.maximum:g} {metric.unit}"
        )
    return value


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
        if len(ts) > MAX_TIMESTAMP_TEXT:
            raise RejectedReading(f"timestamp {quote(ts)} of {metric} is not RFC 3339")
        try:
            parsed = datetime.fromisoformat(ts)
        except ValueError:
            raise RejectedReading(f"timestamp {quote(ts)} of {metric} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise RejectedReading(f"timestamp {ts!r} of {metric} has no UTC offset")
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            # 0001-01-01T00:00:00+01:00 is a valid RFC 3339 time before datetime's year 1.
            raise RejectedReading(f"timestamp {ts!r} of {metric} is out of range") from None
    raise RejectedReading(f"timestamp of {metric} must be RFC 3339 text or epoch milliseconds")


def check_window(time: datetime, now: datetime, limits: Limits, metric: str) -> None:
    """Reject absurd times: too far in the past, or in the future beyond the clock skew."""
    try:
        future = time > now + limits.max_clock_skew
        past = time < now - limits.max_reading_age
    except OverflowError:  # `now` plus or minus a limit beyond datetime's years 1-9999
        future = past = False
    if future:
        raise RejectedReading(
            f"timestamp {time.isoformat()} of {metric} is more than "
            f"{limits.max_clock_skew} in the future"
        )
    if past:
        raise RejectedReading(
            f"timestamp {time.isoformat()} of {metric} is older than the accepted "
            f"{limits.max_reading_age.days} days"
        )
