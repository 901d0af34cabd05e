"""The contract's bounds (docs/mqtt.md, "Bounds"), each with the input that used to break it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.types import DeviceRef, Limits, MetricRef, ParseContext, Registry

NOW = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
METRICS = {
    "energy.electricity.import": MetricRef(1, "kWh", 0.0, None),
    "emission.o2": MetricRef(2, "%", 0.0, 25.0),
    "wastewater.ph": MetricRef(3, "pH", 0.0, 14.0),
    "water.intake": MetricRef(4, "m3", 0.0, None),
}
DEVICE = DeviceRef(7, "park", "ent", "dev", frozenset({1, 2, 3, 4}))
LIMITS = Limits(
    max_payload_bytes=64 * 1024,
    max_reading_age=timedelta(days=5 * 365),
    max_clock_skew=timedelta(minutes=10),
    max_readings=1000,
    max_depth=16,
)
CTX = ParseContext(Registry({("park", "dev"): DEVICE}, METRICS), LIMITS, "smartpark")
TOPIC = "smartpark/park/ent/dev/telemetry"
TS = "2026-12-08T08:30:00+08:00"


def reasons(payload: bytes) -> list[str]:
    """Every rejection's reason; the readings must be empty for a hostile message."""
    result = parse_message(TOPIC, payload, CTX, NOW)
    return [r.reason for r in result.rejections]


def reading(metric: str, value: object, unit: str | None = None) -> bytes:
    item: dict[str, object] = {"metric": metric, "value": value}
    if unit is not None:
        item["unit"] = unit
    return orjson.dumps({"ts": TS, "readings": [item]})


def test_a_timestamp_before_year_one_in_utc_is_a_rejection_not_an_overflow() -> None:
    payload = (
        b'{"ts": "0001-01-01T00:00:00+01:00", "readings": [{"metric": "water.intake", "value": 1}]}'
    )
    assert reasons(payload) == [
        "timestamp '0001-01-01T00:00:00+01:00' of water.intake is out of range"
    ]


@pytest.mark.parametrize(
    ("ts", "fragment"),
    [
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("2026-02-30T00:00:00Z", "not RFC 3339"),
        ("2026-12-08T23:59:60Z", "not RFC 3339"),
        ("2026-12-08T00:00:00+25:00", "not RFC 3339"),
        ("2026-12-08T01:10:00.001Z", "more than 0:10:00 in the future"),
        ("2021-12-08T00:59:59Z", "older than the accepted 1825 days"),
        ("2" * 5000, "not RFC 3339"),
    ],
)
def test_timestamps_outside_the_window_or_the_calendar(ts: str, fragment: str) -> None:
    payload = orjson.dumps({"ts": ts, "readings": [{"metric": "water.intake", "value": 1}]})
    (reason,) = reasons(payload)
    assert fragment in reason
    assert len(reason) < 200


def test_the_edges_of_the_window_are_accepted() -> None:
    for ts in ("2026-12-08T01:10:00Z", "2021-12-09T01:00:00Z"):
        payload = orjson.dumps({"ts": ts, "readings": [{"metric": "water.intake", "value": 1}]})
        assert reasons(payload) == []


def test_a_value_infinite_only_after_conversion_is_rejected() -> None:
    # 1e306 MWh = 1e309 kWh: finite as sent, infinite in the canonical unit.
    assert reasons(reading("energy.electricity.import", 1e306, "MWh")) == [
        "value 1e+306 MWh of energy.electricity.import is not a finite number in kWh"
    ]
    result = parse_message(TOPIC, reading("energy.electricity.import", 2.5, "MWh"), CTX, NOW)
    assert [r.value for r in result.readings] == [2500.0]


@pytest.mark.parametrize(
    ("metric", "value", "reason"),
    [
        ("emission.o2", 30, "value 30.0 % of emission.o2 is above its physical maximum 25 %"),
        ("emission.o2", -0.5, "value -0.5 % of emission.o2 is below its physical minimum 0 %"),
        ("wastewater.ph", 15, "value 15.0 pH of wastewater.ph is above its physical maximum 14 pH"),
        (
            "water.intake",
            -1,
            "value -1.0 m3 of water.intake is below its physical minimum 0 m3",
        ),
    ],
)
def test_physical_bounds_name_the_bound(metric: str, value: float, reason: str) -> None:
    assert reasons(reading(metric, value)) == [reason]


def test_bounds_hold_in_the_canonical_unit() -> None:
    # 25 % is the bound: 0.25 as a fraction is not a spelling, but 25 percent is.
    assert reasons(reading("emission.o2", 25, "percent")) == []


@pytest.mark.parametrize(
    ("unit", "reason"),
    [
        ("kWh)", "unknown unit 'kWh)'"),
        ("m3/0", "unknown unit 'm3/0'"),
        ("'", 'unknown unit "\'"'),
        ("m3**m3", "unknown unit 'm3**m3'"),
        ("ton", "unknown unit 'ton'"),
        (
            "m*" * 20000,
            "unknown unit 'm*m*m*m*m*m*m*m*m*m*m*m*m*m*m*m*m*m*m*m… (40000 characters)",
        ),
        # Escapes count as what repr writes: 30 characters of text, 40 of reason at most.
        (
            "\U000e0001" * 30,
            "unknown unit '" + "\\U000e0001" * 3 + "\\U000e000… (30 characters)",
        ),
        ("kWh", "unit 'kWh' cannot be converted to 'm3'"),
    ],
)
def test_units_come_only_from_the_table(unit: str, reason: str) -> None:
    assert reasons(reading("water.intake", 1, unit)) == [reason]


def test_seq_must_fit_a_bigint() -> None:
    body = {"ts": TS, "readings": [{"metric": "water.intake", "value": 1}]}
    assert reasons(orjson.dumps({**body, "seq": 2**63 - 1})) == []
    assert reasons(orjson.dumps({**body, "seq": 2**64 - 1})) == [
        "seq must be an integer from 0 to 2^63-1, got 18446744073709551615"
    ]
    assert reasons(orjson.dumps({**body, "seq": True})) == [
        "seq must be an integer from 0 to 2^63-1, got True"
    ]


def test_duplicate_keys_are_named() -> None:
    payload = (
        b'{"ts": "2026-12-08T00:00:00Z", "ts": "2026-12-08T00:30:00Z",'
        b' "readings": [{"metric": "water.intake", "value": 1}]}'
    )
    assert reasons(payload) == ["JSON object has the key 'ts' twice"]
    nested = b'{"ts": "%s", "readings": [{"metric": "water.intake", "value": 1, "value": 2}]}' % (
        TS.encode()
    )
    assert reasons(nested) == ["JSON object has the key 'value' twice"]
    # An escaped colon is not a duplicate: the exact parser runs and finds nothing.
    escaped = (
        b'{"ts": "%s", "note": "a\\u003ab", "readings": [{"metric": "water.intake", "value": 1}]}'
        % (TS.encode())
    )
    assert reasons(escaped) == []


def test_nesting_depth_and_readings_per_message() -> None:
    deep = b'{"ts": "%s", "readings": [{"metric": "water.intake", "value": 1, "x": %s}]}' % (
        TS.encode(),
        b"[" * 14 + b"]" * 14,
    )
    assert reasons(deep) == ["JSON is nested deeper than 16 levels"]
    fits = deep.replace(b"[" * 14, b"[" * 13).replace(b"]" * 14, b"]" * 13)
    assert reasons(fits) == []
    assert reasons(b"[" * 5000 + b"]" * 5000)[0].startswith("payload is not valid UTF-8 JSON")
    many = orjson.dumps({"ts": TS, "readings": [{"metric": "water.intake", "value": 1}] * 1001})
    assert reasons(many) == ["message holds 1001 readings, over the limit of 1000"]


def test_reasons_quote_hostile_text_briefly() -> None:
    long_metric = reading("x" * 60000, 1)
    (reason,) = reasons(long_metric)
    assert reason.startswith("metric name 'xxxx") and reason.endswith(
        "is longer than 128 characters"
    )
    assert len(reason) < 150
    unhashable_flag = orjson.dumps(
        {"ts": TS, "readings": [{"metric": "water.intake", "value": 1, "flag": ["N"]}]}
    )
    assert reasons(unhashable_flag) == ["flag ['N'] of water.intake is not one of N F M S D C T B"]


def test_status_and_empty_payloads() -> None:
    assert reasons(b"") == ["payload is empty"]
    status = parse_message("smartpark/park/ent/dev/status", b"x" * 60000, CTX, NOW)
    assert len(status.rejections[0].reason) < 120


def test_a_dead_letter_names_only_a_registered_park() -> None:
    ok = orjson.dumps({"ts": TS, "readings": [{"metric": "water.intake", "value": 1}]})
    ghost = parse_message("smartpark/park/ent/ghost/telemetry", ok, CTX, NOW)
    invented = parse_message("smartpark/made-up/ent/dev/telemetry", ok, CTX, NOW)
    oversize = parse_message(TOPIC, b" " * (64 * 1024 + 1), CTX, NOW)
    assert (ghost.park, ghost.device) == ("park", None)
    assert (invented.park, invented.device) == (None, None)
    assert (oversize.park, oversize.device) == ("park", DEVICE)
