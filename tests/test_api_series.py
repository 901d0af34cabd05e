"""Reading series over the API: raw, bucketed (hand-computed), the point cap, CSV, scope."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import psycopg

from smartpark.ingestion.types import Reading
from smartpark.storage.readings import Batch, store_batch
from smartpark.storage.registry import load_snapshot
from smartpark.storage.rollups import refresh_all
from smartpark.storage.series import SeriesQuery, bucketed, from_rollups
from tests.services import Database
from tests.test_api import api, auth  # noqa: F401 - the fixture
from tests.test_checks import DAY_START, MINUTE

SO2 = {"device": "hz-steel-cems-1", "metric": "emission.so2"}
BASE = DAY_START + timedelta(days=2)  # clear of the readings the api fixture stores


def load(db: Database, minutes: int, calibrate_from: int | None = None) -> None:
    with db.engine.connect() as conn:
        snap = load_snapshot(conn)
    device = snap.devices[("qinba-demo", "hz-steel-cems-1")].id
    metric = snap.metrics["emission.so2"].id
    flag = lambda m: "C" if calibrate_from is not None and m >= calibrate_from else "N"  # noqa: E731
    readings = [
        Reading(device, metric, BASE + m * MINUTE, float(m % 60), flag(m)) for m in range(minutes)
    ]
    with psycopg.connect(db.url) as conn:
        store_batch(conn, Batch(readings=readings), DAY_START)


def window(hours: float) -> dict[str, str]:
    return {"start": BASE.isoformat(), "end": (BASE + timedelta(hours=hours)).isoformat()}


def test_raw_and_bucketed_series(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    load(db, 60, calibrate_from=55)
    viewer = auth(tokens, "viewer")
    raw = client.get(
        "/api/v1/parks/qinba-demo/readings", params={**SO2, **window(1)}, headers=viewer
    ).json()
    assert raw["bucket"] == "raw"
    (only,) = raw["series"]
    assert (only["device"], only["metric"], only["unit"], len(only["points"])) == (
        "hz-steel-cems-1",
        "emission.so2",
        "mg/m3",
        60,
    )
    assert only["points"][0][1:] == [0.0, "N"] and only["points"][59][1:] == [59.0, "C"]
    buckets = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={**SO2, **window(1), "bucket": "15m"},
        headers=viewer,
    ).json()
    points = buckets["series"][0]["points"]
    # Minute m holds the value m: means 7, 22, 37; the last bucket's valid values are 45..54
    # (55..59 are calibration), mean 49.5, yet all 15 samples count.
    assert [(p[1], p[2], p[3], p[4]) for p in points] == [
        (7.0, 0.0, 14.0, 15),
        (22.0, 15.0, 29.0, 15),
        (37.0, 30.0, 44.0, 15),
        (49.5, 45.0, 54.0, 15),
    ]


def test_the_point_cap(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    load(db, 10_001)
    viewer = auth(tokens, "viewer")
    params = {**SO2, **window(10_001 / 60)}
    refused = client.get(
        "/api/v1/parks/qinba-demo/readings", params=params | {"bucket": "raw"}, headers=viewer
    )
    assert refused.status_code == 422
    assert (
        refused.json()["detail"]
        == "the range holds 10001 points, more than 10000: choose a bucket, a shorter range or readings.csv"
    )
    auto = client.get("/api/v1/parks/qinba-demo/readings", params=params, headers=viewer).json()
    assert auto["bucket"] == "5m" and sum(p[4] for p in auto["series"][0]["points"]) == 10_001
    too_fine = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={
            **SO2,
            "start": BASE.isoformat(),
            "end": (BASE + timedelta(days=30)).isoformat(),
            "bucket": "1m",
        },
        headers=viewer,
    )
    assert (
        too_fine.status_code == 422
        and "1m buckets give about 43201 points" in too_fine.json()["detail"]
    )


def test_csv_export_streams_every_reading(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    load(db, 12_000)
    response = client.get(
        "/api/v1/parks/qinba-demo/readings.csv",
        params={**SO2, **window(200)},
        headers=auth(tokens, "viewer"),
    )
    lines = response.text.strip().splitlines()
    assert response.headers["content-type"].startswith("text/csv")
    assert lines[0] == "time,device,metric,value,unit,flag" and len(lines) == 12_001
    assert lines[1] == f"{BASE.isoformat()},hz-steel-cems-1,emission.so2,0.0,mg/m3,N"


def test_bad_ranges_and_scope(api: Any) -> None:  # noqa: F811
    client, db, tokens = api
    load(db, 60)
    viewer = auth(tokens, "viewer")
    naive = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={**SO2, "start": "2026-11-27T00:00:00", "end": "2026-11-28T00:00:00+08:00"},
        headers=viewer,
    )
    assert (naive.status_code, naive.json()["detail"]) == (
        422,
        "start needs a UTC offset (e.g. 2026-11-29T08:00:00+08:00)",
    )
    backwards = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={**SO2, "start": window(1)["end"], "end": window(1)["start"]},
        headers=viewer,
    )
    assert backwards.json()["detail"] == "end must be after start"
    missing = client.get("/api/v1/parks/qinba-demo/readings", params=window(1), headers=viewer)
    assert missing.status_code == 422 and "query.device" in missing.json()["detail"]
    food = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={**SO2, **window(1)},
        headers=auth(tokens, "food"),
    ).json()
    assert food["series"] == []  # hz-steel's stack is outside an ak-food user's scope


def test_bucketing_on_both_storage_paths(database: Database) -> None:
    load(database, 120)
    with database.engine.connect() as conn:
        rows = bucketed(
            conn,
            SeriesQuery(
                "qinba-demo",
                None,
                ["hz-steel-cems-1"],
                ["emission.so2"],
                BASE,
                BASE + timedelta(hours=2),
            ),
            timedelta(hours=1),
        )
    (only,) = json.loads(rows)
    points = [(datetime.fromisoformat(p[0]), p[1], p[4]) for p in only["points"]]
    assert (only["device"], only["metric"], only["unit"]) == (
        "hz-steel-cems-1", "emission.so2", "mg/m3"
    )  # fmt: skip
    assert points == [
        (BASE, 29.5, 60),
        (BASE + timedelta(hours=1), 29.5, 60),
    ]


def test_whole_hour_buckets_come_from_rollups_and_match_raw(api: Any) -> None:  # noqa: F811
    """Hour-aligned 1h and 6h buckets are read from the hourly rollups, with hours not yet
    maintained taken from raw readings; both give exactly what bucketing raw readings gives."""
    client, db, tokens = api
    load(db, 180, calibrate_from=170)  # three hours, the last ten minutes in calibration
    with db.engine.begin() as conn:
        refresh_all(conn)
    # Mark the first hour's rollup so the test can tell where an answer came from.
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE rollup_hour SET sum_normal = sum_normal + 6000 WHERE bucket = %(b)s "
            "AND metric_id = (SELECT id FROM metric WHERE name = 'emission.so2')",
            {"b": BASE},
        )
    viewer = auth(tokens, "viewer")
    hourly = client.get(
        "/api/v1/parks/qinba-demo/readings",
        params={**SO2, **window(3), "bucket": "1h"},
        headers=viewer,
    ).json()["series"][0]["points"]
    # Hour 1: 0..59 has mean 29.5, read from the (marked) rollup: (1770 + 6000) / 60.
    # Hours 2 and 3: means 29.5 and, without the calibration minutes 50..59, 24.5.
    assert [(p[1], p[2], p[3], p[4]) for p in hourly] == [
        (7770 / 60, 0.0, 59.0, 60), (29.5, 0.0, 59.0, 60), (24.5, 0.0, 49.0, 60),
    ]  # fmt: skip
    # A late reading makes its hour dirty: until maintenance, that hour comes from raw data.
    with db.engine.connect() as conn:
        snap = load_snapshot(conn)
    late = Reading(snap.devices[("qinba-demo", "hz-steel-cems-1")].id,
                   snap.metrics["emission.so2"].id, BASE + timedelta(seconds=30), 1000.0, "N")  # fmt: skip
    with psycopg.connect(db.url) as conn:
        store_batch(conn, Batch(readings=[late]), DAY_START)
    q = SeriesQuery("qinba-demo", None, ["hz-steel-cems-1"], ["emission.so2"], BASE,
                    BASE + timedelta(hours=6))  # fmt: skip
    with db.engine.connect() as conn:
        for size in (timedelta(hours=1), timedelta(hours=6)):
            assert from_rollups(conn, q, size) == bucketed(conn, q, size)
