"""Rollups maintained from dirty hours, with hand-computed numbers, on both storage paths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg

from smartpark.ingestion.types import Reading
from smartpark.storage.readings import Batch, store_batch
from smartpark.storage.registry import load_snapshot
from smartpark.storage.rollups import refresh_all
from tests.services import Database

H = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 11:00 in Asia/Shanghai


def ids(db: Database) -> tuple[int, int, int, int]:
    with db.engine.connect() as conn:
        snap = load_snapshot(conn)
    meter = snap.devices[("qinba-demo", "hz-steel-wm-01")].id
    cems = snap.devices[("qinba-demo", "hz-steel-cems-1")].id
    return meter, snap.metrics["water.intake"].id, cems, snap.metrics["emission.so2"].id


def store(db: Database, readings: list[Reading]) -> None:
    with psycopg.connect(db.url) as conn:
        store_batch(conn, Batch(readings=readings), H)


def refresh(db: Database) -> int:
    with db.engine.begin() as conn:
        return refresh_all(conn)


def test_gauge_hour_separates_valid_flagged_and_manual(database: Database) -> None:
    _, _, cems, so2 = ids(database)
    readings = [Reading(cems, so2, H + timedelta(minutes=m), float(m), "N") for m in range(44)]
    readings += [Reading(cems, so2, H + timedelta(minutes=44 + m), 100.0, "C") for m in range(10)]
    readings += [Reading(cems, so2, H + timedelta(minutes=54 + m), 7.0, "S") for m in range(2)]
    store(database, readings)
    assert refresh(database) == 1
    row = database.rows(
        "SELECT samples, n_normal, sum_normal, min_normal, max_normal, n_manual, sum_manual, consumed "
        "FROM rollup_hour WHERE device_id = %s AND metric_id = %s AND bucket = %s",
        cems,
        so2,
        H,
    )
    # 0 + 1 + ... + 43 = 946
    assert row == [(56, 44, 946.0, 0.0, 43.0, 2, 14.0, None)]


def test_counter_consumption_across_a_reset_and_from_the_previous_hour(database: Database) -> None:
    meter, intake, _, _ = ids(database)
    store(database, [Reading(meter, intake, H - timedelta(minutes=1), 95.0, "N")])
    store(
        database,
        [
            Reading(meter, intake, H + timedelta(minutes=m), v, "N")
            for m, v in ((0, 100.0), (20, 110.0), (40, 5.0), (59, 15.0))
        ],
    )
    refresh(database)
    # (100 - 95) + (110 - 100) + 5 (meter replaced, counts from 0) + (15 - 5) = 30
    assert database.rows(
        "SELECT consumed, resets, last_value FROM rollup_hour WHERE bucket = %s AND metric_id = %s",
        H,
        intake,
    ) == [(30.0, 1, 15.0)]
    assert database.rows(
        "SELECT consumed FROM rollup_hour WHERE bucket = %s AND metric_id = %s",
        H - timedelta(hours=1),
        intake,
    ) == [(0.0,)]


def test_late_data_recomputes_only_the_hours_it_touches(database: Database) -> None:
    meter, intake, cems, so2 = ids(database)
    store(
        database,
        [Reading(cems, so2, H + timedelta(hours=h, minutes=5), 10.0, "N") for h in range(5)],
    )
    store(
        database, [Reading(meter, intake, H + timedelta(hours=h), 100.0 * h, "N") for h in range(5)]
    )
    assert refresh(database) == 5 + 6  # the counter also marks the hour after each reading
    before = dict(
        database.rows("SELECT bucket, updated_at FROM rollup_hour WHERE metric_id = %s", so2)
    )
    store(database, [Reading(cems, so2, H + timedelta(hours=2, minutes=30), 40.0, "N")])
    assert database.rows("SELECT bucket FROM rollup_dirty") == [(H + timedelta(hours=2),)]
    assert refresh(database) == 1
    after = dict(
        database.rows("SELECT bucket, updated_at FROM rollup_hour WHERE metric_id = %s", so2)
    )
    changed = sorted(b for b in after if after[b] != before[b])
    assert changed == [H + timedelta(hours=2)]
    assert (
        database.scalar(
            "SELECT sum_normal FROM rollup_hour WHERE metric_id = %s AND bucket = %s",
            so2,
            H + timedelta(hours=2),
        )
        == 50.0
    )
    # A late counter reading in hour 1 changes hour 1 and hour 2 (its first delta).
    store(database, [Reading(meter, intake, H + timedelta(hours=1, minutes=30), 170.0, "N")])
    assert sorted(b for (b,) in database.rows("SELECT bucket FROM rollup_dirty")) == [
        H + timedelta(hours=1),
        H + timedelta(hours=2),
    ]
    refresh(database)
    consumed = dict(
        database.rows(
            "SELECT bucket, consumed FROM rollup_hour WHERE metric_id = %s ORDER BY bucket", intake
        )
    )
    assert [consumed[H + timedelta(hours=h)] for h in range(5)] == [0.0, 170.0, 30.0, 100.0, 100.0]


def test_days_follow_the_parks_local_calendar(database: Database) -> None:
    _, _, cems, so2 = ids(database)
    # 15:30Z is 23:30 on the 28th in Shanghai; 16:30Z is 00:30 on the 29th.
    store(
        database,
        [
            Reading(cems, so2, datetime(2026, 11, 28, 15, 30, tzinfo=UTC), 1.0, "N"),
            Reading(cems, so2, datetime(2026, 11, 28, 16, 30, tzinfo=UTC), 2.0, "N"),
        ],
    )
    refresh(database)
    assert database.rows(
        "SELECT day, hours, n_normal, sum_normal FROM rollup_day WHERE metric_id = %s ORDER BY day",
        so2,
    ) == [
        (date(2026, 11, 28), 1, 1, 1.0),
        (date(2026, 11, 29), 1, 1, 2.0),
    ]
