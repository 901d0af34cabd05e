"""The write path and the schema, on TimescaleDB and on plain PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import yaml

from smartpark.catalogue import load_catalogue
from smartpark.ingestion.sequence import Observation
from smartpark.ingestion.types import Reading
from smartpark.registry.schema import parse_registry
from smartpark.storage.readings import Batch, DeadLetterRow, store_batch
from smartpark.storage.registry import import_registry, load_snapshot
from tests.conftest import REGISTRY
from tests.services import Database

T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def ids(db: Database) -> tuple[int, int, int]:
    with db.engine.connect() as conn:
        snap = load_snapshot(conn)
    device = snap.devices[("qinba-demo", "hz-steel-wm-01")].id
    return device, snap.metrics["water.intake"].id, snap.metrics["water.reused"].id


def store(db: Database, batch: Batch):  # type: ignore[no-untyped-def]
    with psycopg.connect(db.url) as conn:
        return store_batch(conn, batch, T0, max_open_gaps=100)


def test_schema_path(database: Database) -> None:
    hypertables = database.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    assert hypertables == (1 if database.timescale else 0)
    if database.timescale:
        assert (
            database.scalar(
                "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'reading'"
            )
            == 1
        )


def test_redelivery_is_a_noop_and_a_different_value_is_a_conflict(database: Database) -> None:
    device, intake, _reused = ids(database)
    readings = [
        Reading(device, intake, T0 + timedelta(minutes=i), float(i), "N") for i in range(10)
    ]
    first = store(database, Batch(readings=list(readings)))
    assert (first.inserted, first.duplicates, first.conflicts) == (10, 0, 0)
    again = store(database, Batch(readings=list(readings)))
    assert (again.inserted, again.duplicates, again.conflicts) == (0, 10, 0)
    changed = [
        Reading(device, intake, T0, 99.0, "N"),
        Reading(device, intake, T0 + timedelta(minutes=1), 1.0, "M"),
    ]
    result = store(database, Batch(readings=changed))
    assert (result.inserted, result.duplicates, result.conflicts) == (0, 0, 2)
    assert database.scalar("SELECT count(*) FROM reading") == 10
    assert (
        database.scalar("SELECT value FROM reading WHERE time = %s", T0) == 0.0
    )  # not overwritten
    assert database.rows(
        "SELECT stored_value, stored_flag, received_value, received_flag FROM reading_conflict ORDER BY time"
    ) == [(0.0, "N", 99.0, "N"), (1.0, "N", 1.0, "M")]


def test_conflict_inside_one_batch(database: Database) -> None:
    device, intake, _ = ids(database)
    batch = Batch(
        readings=[
            Reading(device, intake, T0, 1.0, "N"),
            Reading(device, intake, T0, 1.0, "N"),
            Reading(device, intake, T0, 2.0, "N"),
        ]
    )
    result = store(database, batch)
    assert (result.inserted, result.duplicates, result.conflicts) == (1, 1, 1)
    assert database.rows("SELECT stored_value, received_value FROM reading_conflict") == [
        (1.0, 2.0)
    ]


def test_dead_letters_and_reading_view(database: Database) -> None:
    device, _intake, reused = ids(database)
    batch = Batch(
        readings=[Reading(device, reused, T0, 4.5, "C")],
        dead_letters=[
            DeadLetterRow(
                received_at=T0,
                topic="smartpark/x",
                park_id=None,
                device_id=None,
                reason="unknown device 'x'",
                payload=b"\xff raw",
                payload_size=12,
                payload_sha256="ab" * 32,
                rejections='[{"index": null, "reason": "unknown device \'x\'"}]',
                rejected=1,
                readings=0,
            )
        ],
    )
    store(database, batch)
    assert database.rows(
        "SELECT received_at, topic, reason, payload, payload_size, rejections FROM dead_letter"
    ) == [
        (
            T0,
            "smartpark/x",
            "unknown device 'x'",
            b"\xff raw",
            12,
            [{"index": None, "reason": "unknown device 'x'"}],
        )
    ]
    assert database.rows(
        "SELECT time, park, enterprise, device, metric, value, unit, flag FROM reading_view"
    ) == [(T0, "qinba-demo", "hz-steel", "hz-steel-wm-01", "water.reused", 4.5, "m3", "C")]


def test_sequence_events_are_stored_and_gaps_filled_later(database: Database) -> None:
    device, _, _ = ids(database)
    store(
        database,
        Batch(
            observations=[Observation(device, s, False) for s in (1, 2, 6)], last_seen={device: T0}
        ),
    )
    assert database.rows(
        "SELECT kind, seq_from, seq_to, filled, detail FROM data_quality_event"
    ) == [("seq_gap", 3, 5, 0, {"missing": 3})]
    store(
        database,
        Batch(
            observations=[Observation(device, 4, False), Observation(device, 6, False)],
            last_seen={device: T0},
        ),
    )
    assert database.rows(
        "SELECT kind, seq_from, seq_to, filled FROM data_quality_event ORDER BY id"
    ) == [
        ("seq_gap", 3, 5, 1),
        ("seq_repeat", 6, 6, 0),
    ]
    assert database.scalar("SELECT last_seq FROM device WHERE id = %s", device) == 6


def test_status_transitions_only(database: Database) -> None:
    device, _, _ = ids(database)
    for status in ("online", "online", "offline", "online"):
        store(database, Batch(statuses=[(device, status, T0)], last_seen={device: T0}))
    assert [r[0] for r in database.rows("SELECT status FROM device_status_event ORDER BY id")] == [
        "online",
        "offline",
        "online",
    ]
    assert database.rows("SELECT status, last_seen_at FROM device WHERE id = %s", device) == [
        ("online", T0)
    ]


def test_registry_reimport_is_idempotent_and_updates(database: Database) -> None:
    doc = yaml.safe_load(REGISTRY.read_text())
    before = database.scalar("SELECT count(*) FROM device")
    meter = doc["parks"][0]["enterprises"][0]["devices"][0]
    meter["name"] = "Main water meter"
    meter["metrics"] = ["water.intake", "water.reclaimed"]
    registry = parse_registry(doc, set(load_catalogue()), "test")
    with database.engine.begin() as conn:
        import_registry(conn, registry, "Asia/Shanghai")
        import_registry(conn, registry, "Asia/Shanghai")
    assert database.scalar("SELECT count(*) FROM device") == before == 3
    assert database.rows(
        "SELECT d.name, array_agg(m.name ORDER BY m.name) FROM device d JOIN device_metric dm ON dm.device_id = d.id "
        "JOIN metric m ON m.id = dm.metric_id WHERE d.code = 'hz-steel-wm-01' GROUP BY d.name"
    ) == [("Main water meter", ["water.intake", "water.reclaimed"])]
