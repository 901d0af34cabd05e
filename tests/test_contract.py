"""The device contract as pure functions, with hand-made payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.types import DeviceRef, Limits, MetricRef, ParseContext, Registry

NOW = datetime(2026, 11, 29, 0, 10, tzinfo=UTC)
METRICS = {
    "water.intake": MetricRef(1, "m3"),
    "water.reused": MetricRef(2, "m3"),
    "emission.so2": MetricRef(3, "mg/m3"),
    "emission.temp": MetricRef(4, "degC"),
    "wastewater.ph": MetricRef(5, "pH"),
}
DEVICE = DeviceRef(7, "park", "ent", "dev", frozenset({1, 2, 3, 4, 5}))
CTX = ParseContext(
    Registry({("park", "dev"): DEVICE}, METRICS),
    Limits(
        max_payload_bytes=64 * 1024,
        max_reading_age=timedelta(days=90),
        max_clock_skew=timedelta(minutes=5),
        max_readings=1000,
        max_depth=16,
    ),
    "smartpark",
)
TOPIC = "smartpark/park/ent/dev/telemetry"
# 2026-11-29T00:01:00Z in epoch milliseconds.
EPOCH_MS_0001 = 1_795_910_460_000


def parse(doc: object, topic: str = TOPIC, now: datetime = NOW):  # type: ignore[no-untyped-def]
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return parse_message(topic, payload, CTX, now)


def test_native_payload_with_message_and_reading_timestamps() -> None:
    result = parse(
        {
            "ts": "2026-11-29T08:00:00+08:00",
            "seq": 1042,
            "readings": [
                {"metric": "water.intake", "value": 12.5, "unit": "m3"},
                {
                    "metric": "emission.so2",
                    "value": 18.2,
                    "unit": "mg/m3",
                    "flag": "M",
                    "ts": EPOCH_MS_0001,
                },
            ],
        }
    )
    assert result.rejections == []
    assert result.seq == 1042
    first, second = result.readings
    assert (first.device_id, first.metric_id, first.value, first.flag) == (7, 1, 12.5, "N")
    assert first.time == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    # The reading's own epoch-millisecond timestamp wins over the message's.
    assert second.time == datetime(2026, 11, 29, 0, 1, tzinfo=UTC)
    assert second.flag == "M"


def test_units_are_converted_to_canonical() -> None:
    result = parse(
        {
            "ts": "2026-11-29T00:00:00Z",
            "readings": [
                {"metric": "water.intake", "value": 2500, "unit": "L"},
                {"metric": "emission.so2", "value": 0.05, "unit": "g/m3"},
                {"metric": "emission.temp", "value": 212, "unit": "degF"},
            ],
        }
    )
    assert result.rejections == []
    assert [round(r.value, 9) for r in result.readings] == [2.5, 50.0, 100.0]


def test_good_readings_survive_bad_neighbours_and_each_bad_one_is_named() -> None:
    result = parse(
        {
            "ts": "2026-11-29T00:00:00Z",
            "readings": [
                {"metric": "water.intake", "value": 1},
                {"metric": "water.intake", "value": 1, "unit": "kWh"},
                {"metric": "no.such", "value": 1},
                {"metric": "water.reused", "value": "12"},
                {"metric": "water.reused", "value": 3, "flag": "X"},
                {"metric": "wastewater.ph", "value": 7, "unit": "mg/L"},
                {"metric": "water.reused", "value": 4, "unit": "bananas"},
            ],
        }
    )
    assert len(result.readings) == 1
    reasons = {r.reading_index: r.reason for r in result.rejections}
    assert reasons == {
        1: "unit 'kWh' cannot be converted to 'm3'",
        2: "unknown metric 'no.such'",
        3: "value of water.reused must be a finite number, got '12'",
        4: "flag 'X' of water.reused is not one of N F M S D C T B",
        5: "unit 'mg/L' cannot be converted to 'pH'",
        6: "unknown unit 'bananas'",
    }


def test_timestamp_rules() -> None:
    readings = [
        {"metric": "water.intake", "value": 1},  # no timestamp anywhere
        {"metric": "water.intake", "value": 1, "ts": "2026-11-29T00:10:00"},  # no offset
        {"metric": "water.intake", "value": 1, "ts": "yesterday"},
        {"metric": "water.intake", "value": 1, "ts": "2026-11-29T00:15:00Z"},  # exactly +5 min
        {"metric": "water.intake", "value": 1, "ts": "2026-11-29T00:15:00.001Z"},  # beyond
        {"metric": "water.intake", "value": 1, "ts": "2026-08-31T00:10:00Z"},  # exactly 90 days
        {"metric": "water.intake", "value": 1, "ts": "2026-08-31T00:09:59Z"},  # older
        {"metric": "water.intake", "value": 1, "ts": ["2026-11-29T00:00:00Z"]},  # not a time
        {"metric": "water.intake", "value": 1, "ts": True},  # not epoch ms
    ]
    result = parse({"readings": readings})
    assert [r.time for r in result.readings] == [
        datetime(2026, 11, 29, 0, 15, tzinfo=UTC),
        datetime(2026, 8, 31, 0, 10, tzinfo=UTC),
    ]
    reasons = {r.reading_index: r.reason for r in result.rejections}
    assert reasons[0] == "reading water.intake has no timestamp (neither its own nor the message's)"
    assert reasons[1] == "timestamp '2026-11-29T00:10:00' of water.intake has no UTC offset"
    assert reasons[2] == "timestamp 'yesterday' of water.intake is not RFC 3339"
    assert "more than 0:05:00 in the future" in reasons[4]
    assert "older than the accepted 90 days" in reasons[6]
    assert (
        reasons[7]
        == reasons[8]
        == "timestamp of water.intake must be RFC 3339 text or epoch milliseconds"
    )
    assert sorted(reasons) == [0, 1, 2, 4, 6, 7, 8]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "payload is not valid UTF-8 JSON"),
        (b"\xff\xfe", "payload is not valid UTF-8 JSON"),
        (b"42", "payload must be a JSON object or a SenML array"),
        (b'{"readings": []}', "payload has no 'readings' list (or it is empty)"),
        (b'{"seq": -1, "readings": [{}]}', "seq must be an integer from 0 to 2^63-1, got -1"),
        (b'{"seq": 1.5, "readings": [{}]}', "seq must be an integer from 0 to 2^63-1, got 1.5"),
        (b"[]", "SenML pack is empty"),
    ],
)
def test_whole_message_rejections(payload: bytes, reason: str) -> None:
    result = parse(payload)
    assert result.readings == []
    assert len(result.rejections) == 1
    assert result.rejections[0].reading_index is None
    assert result.rejections[0].reason.startswith(reason)


def test_topic_device_and_size_rejections() -> None:
    ok = {"ts": "2026-11-29T00:00:00Z", "readings": [{"metric": "water.intake", "value": 1}]}
    cases = {
        "smartpark/park/ent/dev/other": "does not match",
        "smartpark/park/ent/ghost/telemetry": "unknown device 'ghost' in park 'park'",
        "smartpark/park/wrong/dev/telemetry": "registered under enterprise 'ent', not 'wrong'",
        "elsewhere/park/ent/dev/telemetry": "does not match",
    }
    for topic, reason in cases.items():
        result = parse(ok, topic)
        assert result.device is None or topic.endswith("other")
        assert reason in result.rejections[0].reason, topic
    big = orjson.dumps({"readings": [{"metric": "water.intake", "value": 1, "pad": "x" * 70000}]})
    result = parse(big)
    assert result.rejections[0].reason == f"payload is {len(big)} bytes, over the limit of 65536"


def test_status_messages() -> None:
    assert parse(b"online", "smartpark/park/ent/dev/status").status == "online"
    assert parse(b"OFFLINE\n", "smartpark/park/ent/dev/status").status == "offline"
    bad = parse(b"sleeping", "smartpark/park/ent/dev/status")
    assert bad.status is None
    assert bad.rejections[0].reason == "status must be online or offline, got 'sleeping'"


def test_senml_pack_with_base_fields() -> None:
    bt = datetime(2026, 11, 29, 0, 0, tzinfo=UTC).timestamp()
    result = parse(
        [
            {"bn": "water.", "bt": bt, "bu": "m3", "n": "intake", "v": 10},
            {"n": "reused", "t": 60, "v": 4000, "u": "L"},
            {"n": "intake", "t": 120, "v": 11},
        ]
    )
    assert result.rejections == []
    assert [(r.metric_id, r.time.minute, r.value) for r in result.readings] == [
        (1, 0, 10.0),
        (2, 1, 4.0),
        (1, 2, 11.0),
    ]


def test_senml_relative_and_missing_times_are_rejected() -> None:
    result = parse(
        [
            {"n": "water.intake", "v": 1},
            {"n": "water.intake", "t": -30, "v": 1},
            {"n": "water.intake", "t": "soon", "v": 1},
        ]
    )
    assert result.readings == []
    assert [r.reason for r in result.rejections] == [
        "reading water.intake has no timestamp (neither its own nor the message's)",
        "SenML time -30.0 is relative to arrival; send an absolute time",
        "SenML t must be a number: 'soon'",
    ]
