"""Hostile device messages: each breaks one bound of the device contract (docs/mqtt.md).

Every entry names the bound it hits and the fragments its dead letter's reasons must hold.
Timestamps that are meant to be valid are relative to `t0` (a recent hour, tests.helpers
base_time), so a message fails for its one defect and not because it is old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

PARK = "qinba-demo"
WATER_DEVICE = "hz-steel-wm-01"  # water.intake, water.reused (examples/registry.yaml)
CEMS_DEVICE = "hz-steel-cems-1"  # emission.flow, .o2, .so2, .nox, .pm
ENERGY_DEVICE = "ak-food-em-01"  # energy.electricity.import, energy.power
# Not in examples/registry.yaml: the tests add it, since no example device publishes pH.
WASTEWATER_DEVICE = "hz-steel-ww-01"
EXTRA_DEVICE: dict[str, Any] = {
    "id": WASTEWATER_DEVICE,
    "kind": "wastewater_analyser",
    "outlet": "outfall-1",
    "metrics": ["wastewater.ph", "wastewater.cod", "wastewater.flow"],
}
TOPICS = {
    WATER_DEVICE: f"smartpark/{PARK}/hz-steel/{WATER_DEVICE}/telemetry",
    CEMS_DEVICE: f"smartpark/{PARK}/hz-steel/{CEMS_DEVICE}/telemetry",
    ENERGY_DEVICE: f"smartpark/{PARK}/ak-food/{ENERGY_DEVICE}/telemetry",
    WASTEWATER_DEVICE: f"smartpark/{PARK}/hz-steel/{WASTEWATER_DEVICE}/telemetry",
}
WATER = TOPICS[WATER_DEVICE]
CEMS = TOPICS[CEMS_DEVICE]
ENERGY = TOPICS[ENERGY_DEVICE]
WASTEWATER = TOPICS[WASTEWATER_DEVICE]

# MQTT 5 DISCONNECT reason codes the broker sends to a client it refuses.
PACKET_TOO_LARGE = 0x95
PROTOCOL_ERROR = 0x82

# A stored reading as the test reads it back: (device code, metric, time, value).
StoredReading = tuple[str, str, datetime, float]


@dataclass(frozen=True, slots=True)
class Hostile:
    """One hostile message and what the contract must make of it."""

    name: str
    topic: str
    payload: bytes
    bound: str  # the bound it hits, in words
    # Fragments the dead letter's reasons must contain (case-insensitive); "a|b": either.
    expect: tuple[str, ...]
    # Index of each rejection, where the contract fixes it (None: the message as a whole).
    indexes: tuple[int | None, ...] | None = None
    rejected: int | None = None  # total rejections, when more than the indexes kept
    readings: int | None = None  # the dead letter's `readings`, where the contract fixes it
    stored: tuple[StoredReading, ...] = ()  # the message's good readings, stored
    park: str | None = PARK  # the dead letter's park_id
    device: str | None = WATER_DEVICE  # code of the device in device_id (None: NULL)
    # Refused by the broker, which disconnects the client with this MQTT 5 reason code
    # (0x95: over max_packet_size, deploy/mosquitto; 0x82: over Mosquitto's built-in limit of
    # topic levels): the message never reaches smartpark.
    refused_with: int | None = None

    # Accepted by the broker but matching no subscription of the ingestor (which subscribes to
    # smartpark/+/+/+/telemetry and .../status), so it goes nowhere: MQTT 5 PUBACK 0x10
    # "No matching subscribers". With the deployed ACL a device cannot publish it at all.
    unrouted: bool = False

    @property
    def broker_refuses(self) -> bool:
        return self.refused_with is not None

    @property
    def reaches_smartpark(self) -> bool:
        return not self.broker_refuses and not self.unrouted

    def matches(self, reasons: str) -> list[str]:
        """The expected fragments missing from `reasons`."""
        text = reasons.lower()
        return [f for f in self.expect if not any(alt in text for alt in f.lower().split("|"))]


def _iso(t: datetime) -> str:
    return t.isoformat()


def _native(ts: Any, readings: list[Any], **extra: Any) -> bytes:
    return orjson.dumps({"ts": ts, **extra, "readings": readings})


def _raw(ts: datetime, reading: str) -> bytes:
    """A native message whose one reading is raw JSON text (literals orjson cannot write)."""
    return b'{"ts": "%s", "readings": [%s]}' % (_iso(ts).encode(), reading.encode())


def _intake(value: Any = 1.5, **fields: Any) -> dict[str, Any]:
    return {"metric": "water.intake", "value": value, **fields}


def corpus(t0: datetime) -> list[Hostile]:
    """The hostile messages, in the order they are published."""
    ts = t0 - timedelta(hours=1)  # a valid message time for messages with another defect
    good = _iso(ts)
    day_before = (t0 - timedelta(days=1)).date().isoformat()
    mixed_at = t0 - timedelta(minutes=30)
    senml_at = t0 - timedelta(minutes=31)
    pad = 65_600 - len(_native(good, [_intake(pad="")]))  # a payload of exactly 65,600 bytes
    entries = [
        # --- timestamps: each on the reading itself, under a valid message ts ----------------
        Hostile(
            "ts_year_1_with_offset",
            WATER,
            _native(good, [_intake(ts="0001-01-01T00:00:00+01:00")]),
            "timestamp before year 1 once in UTC (out of range)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_year_9999_negative_offset",
            WATER,
            _native(good, [_intake(ts="9999-12-31T23:59:59-01:00")]),
            "timestamp in year 10000 once in UTC (out of range)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_year_10000",
            WATER,
            _native(good, [_intake(ts="10000-01-01T00:00:00Z")]),
            "not RFC 3339 (five-digit year)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_february_30",
            WATER,
            _native(good, [_intake(ts=f"{t0.year}-02-30T00:00:00Z")]),
            "not RFC 3339 (no such day)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_leap_second",
            WATER,
            _native(good, [_intake(ts=f"{day_before}T23:59:60Z")]),
            "not RFC 3339 as accepted (second 60; no leap second on that day)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_offset_plus_25_hours",
            WATER,
            _native(good, [_intake(ts=f"{day_before}T00:00:00+25:00")]),
            "not RFC 3339 (offset beyond ±23:59)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_epoch_ms_1e20",
            WATER,
            _native(good, [_intake(ts=1e20)]),
            "epoch milliseconds out of range (year ~3e9)",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_negative_epoch",
            WATER,
            _native(good, [_intake(ts=-1)]),
            "older than the raw-data retention (1969)",
            ("older",),
            (0,),
        ),
        Hostile(
            "ts_a_day_ahead",
            WATER,
            _native(good, [_intake(ts=_iso(t0 + timedelta(days=1)))]),
            "more than MAX_CLOCK_SKEW in the future",
            ("future",),
            (0,),
        ),
        Hostile(
            "ts_six_years_ago",
            WATER,
            _native(good, [_intake(ts=_iso(t0 - timedelta(days=6 * 365)))]),
            "older than the raw-data retention (5 years)",
            ("older",),
            (0,),
        ),
        Hostile(
            "ts_bool",
            WATER,
            _native(good, [_intake(ts=True)]),
            "not RFC 3339 text or epoch milliseconds",
            ("timestamp",),
            (0,),
        ),
        Hostile(
            "ts_50kb_text",
            WATER,
            _native(good, [_intake(ts="2026-" * 10_000)]),
            "not RFC 3339 (50 KB of text)",
            ("timestamp",),
            (0,),
        ),
        # --- values ---------------------------------------------------------------------------
        Hostile(
            "value_nan_literal",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": NaN}'),
            "invalid JSON (NaN is not a JSON literal)",
            ("json",),
            (None,),
        ),
        Hostile(
            "value_infinity_literal",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": Infinity}'),
            "invalid JSON (Infinity)",
            ("json",),
            (None,),
        ),
        Hostile(
            "value_minus_infinity_literal",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": -Infinity}'),
            "invalid JSON (-Infinity)",
            ("json",),
            (None,),
        ),
        Hostile(
            "value_1e309",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": 1e309}'),
            "a number that is infinite as a double",
            ("inf|finite",),
        ),
        Hostile(
            "value_infinite_after_conversion",
            ENERGY,
            _native(good, [{"metric": "energy.electricity.import", "value": 1e306, "unit": "MWh"}]),
            "finite after unit conversion (1e306 MWh = 1e309 kWh)",
            ("finite",),
            (0,),
            device=ENERGY_DEVICE,
        ),
        Hostile(
            "value_object",
            WATER,
            _native(good, [_intake({"$gt": 0})]),
            "value is not a number",
            ("value",),
            (0,),
        ),
        # --- physical bounds (the catalogue's min/max) ----------------------------------------
        Hostile(
            "so2_negative",
            CEMS,
            _native(good, [{"metric": "emission.so2", "value": -1, "unit": "mg/m3"}]),
            "concentration >= 0",
            ("emission.so2", "-1"),
            (0,),
            device=CEMS_DEVICE,
        ),
        Hostile(
            "o2_30_percent",
            CEMS,
            _native(good, [{"metric": "emission.o2", "value": 30, "unit": "%"}]),
            "O2 0-25 %",
            ("emission.o2", "25"),
            (0,),
            device=CEMS_DEVICE,
        ),
        Hostile(
            "ph_15",
            WASTEWATER,
            _native(good, [{"metric": "wastewater.ph", "value": 15, "unit": "pH"}]),
            "pH 0-14",
            ("wastewater.ph", "14"),
            (0,),
            device=WASTEWATER_DEVICE,
        ),
        Hostile(
            "counter_negative",
            WATER,
            _native(good, [_intake(-5)]),
            "counter >= 0",
            ("water.intake", "-5"),
            (0,),
        ),
        # --- units: only a bounded set of spellings, at most 32 characters --------------------
        Hostile(
            "unit_kwh_paren",
            ENERGY,
            _native(good, [{"metric": "energy.electricity.import", "value": 1, "unit": "kWh)"}]),
            "not a known spelling",
            ("unit",),
            (0,),
            device=ENERGY_DEVICE,
        ),
        Hostile(
            "unit_m3_per_zero",
            WATER,
            _native(good, [_intake(unit="m3/0")]),
            "not a known spelling (division by zero for a unit parser)",
            ("unit",),
            (0,),
        ),
        Hostile(
            "unit_quote",
            WATER,
            _native(good, [_intake(unit="'")]),
            "not a known spelling (a tokenizer error for a unit parser)",
            ("unit",),
            (0,),
        ),
        Hostile(
            "unit_m3_power_m3",
            WATER,
            _native(good, [_intake(unit="m3**m3")]),
            "not a known spelling (a unit as exponent)",
            ("unit",),
            (0,),
        ),
        Hostile(
            "unit_m_star_20000",
            WATER,
            _native(good, [_intake(unit="m*" * 20_000)]),
            "unit length <= 32 (40,000 characters; the 40 KB payload is within 64 KiB)",
            ("unit",),
            (0,),
        ),
        Hostile(
            "unit_60kb",
            WATER,
            _native(good, [_intake(unit="kWh" * 20_000)]),
            "unit length <= 32 (60,000 characters)",
            ("unit",),
            (0,),
        ),
        Hostile(
            "unit_number",
            WATER,
            _native(good, [_intake(unit=5)]),
            "unit is not text",
            ("unit",),
            (0,),
        ),
        # --- seq: an integer 0 ... 2^63-1 (PostgreSQL bigint) ---------------------------------
        Hostile(
            "seq_2_64_minus_1",
            WATER,
            _native(good, [_intake()], seq=2**64 - 1),
            "seq <= 2^63-1",
            ("seq",),
            (None,),
        ),
        Hostile(
            "seq_2_63",
            WATER,
            _native(good, [_intake()], seq=2**63),
            "seq <= 2^63-1 (one over)",
            ("seq",),
            (None,),
        ),
        Hostile(
            "seq_negative",
            WATER,
            _native(good, [_intake()], seq=-1),
            "seq >= 0",
            ("seq",),
            (None,),
        ),
        Hostile(
            "seq_float",
            WATER,
            _native(good, [_intake()], seq=1.5),
            "seq is an integer",
            ("seq",),
            (None,),
        ),
        Hostile(
            "seq_bool",
            WATER,
            _native(good, [_intake()], seq=True),
            "seq is an integer (true is not 1)",
            ("seq",),
            (None,),
        ),
        # --- document shape ---------------------------------------------------------------------
        Hostile(
            "depth_5000",
            WATER,
            _raw(
                ts, '{"metric": "water.intake", "value": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}"
            ),
            "JSON depth <= 16",
            ("deep|depth",),
            (None,),
        ),
        Hostile(
            "depth_20",
            WATER,
            _native(good, [_intake()], meta=_nested(20)),
            "JSON depth <= 16 (well within any parser's own limit)",
            ("deep|depth",),
            (None,),
        ),
        Hostile(
            "junk_readings_60kb",
            WATER,
            _native(good, ["junk-" + "x" * 53] * 1000),
            "readings are not objects (1,000 of them: 50 reasons kept, 1,000 counted)",
            ("object",),
            tuple(range(50)),
            rejected=1000,
            readings=1000,
        ),
        Hostile(
            "invalid_utf8",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": 1, "note": "@@"}').replace(
                b"@@", b"\xff\xfe\xc3"
            ),
            "payload is not UTF-8",
            ("utf-8",),
            (None,),
        ),
        Hostile("empty_payload", WATER, b"", "empty payload", ("empty",), (None,)),
        Hostile("json_null", WATER, b"null", "not an object or SenML array", ("object",), (None,)),
        Hostile("json_number", WATER, b"42", "not an object or SenML array", ("object",), (None,)),
        Hostile(
            "json_string",
            WATER,
            b'"readings"',
            "not an object or SenML array",
            ("object",),
            (None,),
        ),
        Hostile("json_true", WATER, b"true", "not an object or SenML array", ("object",), (None,)),
        Hostile(
            "duplicate_ts",
            WATER,
            b'{"ts": "%s", "ts": "%s", "readings": [{"metric": "water.intake", "value": 1}]}'
            % (good.encode(), _iso(ts + timedelta(minutes=1)).encode()),
            "duplicate key in an object",
            ("twice|duplicate",),
            (None,),
        ),
        Hostile(
            "duplicate_value_in_reading",
            WATER,
            _raw(ts, '{"metric": "water.intake", "value": 1, "value": 2}'),
            "duplicate key in an object",
            ("twice|duplicate",),
        ),
        Hostile(
            "readings_not_a_list",
            WATER,
            orjson.dumps({"ts": good, "readings": {"metric": "water.intake", "value": 1}}),
            "readings is a list",
            ("readings",),
            (None,),
        ),
        Hostile(
            "readings_1001",
            WATER,
            _native(good, [{"metric": "water.intake", "value": 1}] * 1001),
            "readings per message <= 1000",
            ("1000",),
            (None,),
        ),
        Hostile(
            "metric_name_60kb",
            WATER,
            _native(good, [{"metric": "water." + "x" * 60_000, "value": 1}]),
            "metric name <= 128 characters",
            ("metric", "128"),
            (0,),
        ),
        Hostile(
            "nul_characters",
            WATER,
            _native(good, [{"metric": "water.intake\u0000", "value": 1, "unit": "m3\u0000"}]),
            "unknown metric (NUL characters, which PostgreSQL text cannot hold)",
            ("metric",),
            (0,),
        ),
        Hostile(
            "lone_surrogate",
            WATER,
            _raw(ts, '{"metric": "water.\\ud800", "value": 1}'),
            "a lone UTF-16 surrogate escape (not encodable to UTF-8)",
            ("json|metric",),
        ),
        Hostile(
            "flag_1000_characters",
            WATER,
            _native(good, [_intake(flag="X" * 1000)]),
            "flag is one of N F M S D C T B",
            ("flag",),
            (0,),
        ),
        # --- SenML ------------------------------------------------------------------------------
        Hostile(
            "senml_bt_text",
            WATER,
            orjson.dumps([{"bn": "water.", "bt": "x", "n": "intake", "v": 1}]),
            "SenML bt is a number",
            ("bt",),
        ),
        Hostile(
            "senml_relative_time",
            WATER,
            orjson.dumps([{"n": "water.intake", "v": 1, "t": -30}]),
            "SenML time relative to arrival (refused)",
            ("relative",),
            (0,),
        ),
        Hostile(
            "senml_bt_1e300",
            WATER,
            orjson.dumps([{"n": "water.intake", "v": 1, "bt": 1e300}]),
            "time out of range (1e300 s)",
            ("time",),
            (0,),
        ),
        Hostile(
            "senml_1001_records",
            WATER,
            orjson.dumps([{"bn": "water.", "bt": ts.timestamp(), "n": "intake", "v": 1}] * 1001),
            "readings per message <= 1000",
            ("1000",),
            (None,),
        ),
        # --- partly good: the good readings are stored, one dead letter names the bad one ------
        Hostile(
            "mixed_cems_o2_30",
            CEMS,
            _native(
                _iso(mixed_at),
                [
                    {"metric": "emission.so2", "value": 20.5, "unit": "mg/m3"},
                    {"metric": "emission.o2", "value": 30, "unit": "%"},
                    {"metric": "emission.nox", "value": 40.5},
                ],
            ),
            "O2 0-25 % (reading 1 of 3)",
            ("emission.o2", "25"),
            (1,),
            readings=3,
            stored=(
                (CEMS_DEVICE, "emission.nox", mixed_at, 40.5),
                (CEMS_DEVICE, "emission.so2", mixed_at, 20.5),
            ),
            device=CEMS_DEVICE,
        ),
        Hostile(
            "mixed_senml_bad_unit",
            WATER,
            orjson.dumps(
                [
                    {
                        "bn": "water.",
                        "bt": senml_at.timestamp(),
                        "n": "intake",
                        "v": 7.5,
                        "u": "m3",
                    },
                    {"n": "reused", "v": 1, "u": "kWh)"},
                ]
            ),
            "unit spelling (reading 1 of 2)",
            ("unit",),
            (1,),
            readings=2,
            stored=((WATER_DEVICE, "water.intake", senml_at, 7.5),),
        ),
        # --- size ---------------------------------------------------------------------------------
        Hostile(
            "payload_65600_bytes",
            WATER,
            _native(good, [_intake(pad="p" * pad)]),
            "payload <= 65536 bytes (under the broker's max_packet_size, so smartpark sees it)",
            ("65536",),
            (None,),
        ),
        Hostile(
            "payload_66600_bytes",
            WATER,
            _native(good, [_intake(pad="q" * (pad + 1000))]),
            "broker max_packet_size 66560: the client is disconnected, nothing is delivered",
            (),
            refused_with=PACKET_TOO_LARGE,
        ),
        Hostile(
            "payload_200kb",
            WATER,
            _native(good, [_intake(pad="r" * 200_000)]),
            "broker max_packet_size 66560: the client is disconnected, nothing is delivered",
            (),
            refused_with=PACKET_TOO_LARGE,
        ),
        # --- topics and devices ------------------------------------------------------------------
        Hostile(
            "unknown_device_same_park",
            WATER.replace(WATER_DEVICE, "hz-steel-ghost"),
            _native(good, [_intake(3.5)]),
            "device registered (unknown device; park from the topic)",
            ("unknown", "hz-steel-ghost"),
            (None,),
            device=None,
        ),
        Hostile(
            "wrong_enterprise",
            f"smartpark/{PARK}/ak-food/{WATER_DEVICE}/telemetry",
            _native(good, [_intake(2.5)]),
            "device registered under the topic's enterprise",
            ("enterprise",),
            (None,),
            device=None,
        ),
        Hostile(
            "topic_extra_levels",
            WATER + "/extra",
            _native(good, [_intake(4.5)]),
            "topic shape smartpark/{park}/{enterprise}/{device}/telemetry (not subscribed)",
            ("topic",),
            (None,),
            park=None,
            device=None,
            unrouted=True,
        ),
        Hostile(
            "topic_150_levels",
            f"smartpark/{PARK}/" + "/".join(["x" * 60] * 150) + "/telemetry",
            _native(good, [_intake(5.5)]),
            "topic shape (9 KB of topic; not subscribed)",
            ("topic",),
            (None,),
            park=None,
            device=None,
            unrouted=True,
        ),
        Hostile(
            "topic_empty_levels",
            f"smartpark///{WATER_DEVICE}/telemetry",
            _native(good, [_intake(8.5)]),
            "device registered (empty park and enterprise levels: no park recorded)",
            ("unknown",),
            (None,),
            park=None,
            device=None,
        ),
        Hostile(
            "device_id_20000_characters",
            f"smartpark/{PARK}/hz-steel/" + "d" * 20_000 + "/telemetry",
            _native(good, [_intake(6.5)]),
            "device registered (a 20,000-character id: the stored topic and the reason are cut)",
            ("unknown",),
            (None,),
            device=None,
        ),
        Hostile(
            "topic_300_levels",
            f"smartpark/{PARK}/" + "x/" * 300 + "telemetry",
            _native(good, [_intake(7.5)]),
            "Mosquitto's limit of topic levels (more than 200 separators: protocol error)",
            (),
            refused_with=PROTOCOL_ERROR,
            park=None,
            device=None,
        ),
        Hostile(
            "status_64kb_junk",
            WATER.replace("/telemetry", "/status"),
            b"sleeping " * 7000,
            "status is online or offline",
            ("status",),
            (None,),
        ),
    ]
    names = [e.name for e in entries]
    assert len(set(names)) == len(names), "corpus names must be unique"
    return entries


def _nested(levels: int) -> Any:
    doc: Any = 1
    for _ in range(levels):
        doc = [doc]
    return doc
