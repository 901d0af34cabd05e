"""Reading series for the API: raw or time-bucketed, several devices and metrics at once."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from smartpark.db import timescaledb_installed

# The caller's series (device x metric) of a park, resolved to ids first: every table below
# is then reached through its (device_id, metric_id, time) key, never scanned per device.
_SERIES = """
WITH s AS MATERIALIZED (
    SELECT d.id AS device_id, m.id AS metric_id, d.code AS device, m.name AS metric, m.unit
    FROM device d JOIN enterprise e ON e.id = d.enterprise_id CROSS JOIN metric m
    WHERE d.park_id = :park AND (CAST(:scope AS text) IS NULL OR e.code = :scope)
      AND d.code = ANY(:devices) AND m.name = ANY(:metrics)
)
"""
# Rows of a table keyed by device, metric and a time column within [start, end).
_WITHIN = """
    JOIN s ON s.device_id = {t}.device_id AND s.metric_id = {t}.metric_id
    WHERE {t}.{time} >= :start AND {t}.{time} < :end
"""
_SCOPE = " FROM reading r" + _WITHIN.format(t="r", time="time")
# Buckets start at a fixed UTC origin, so the same range always gives the same buckets.
_ORIGIN = "timestamptz '2000-01-01 00:00+00'"


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """Which readings: devices and metrics of a park (within the caller's scope), [start, end)."""

    park: str
    scope: str | None
    devices: list[str]
    metrics: list[str]
    start: datetime
    end: datetime


# Each series as one JSON document, built by the database: a 30-day hourly series is 1,440
# points, and decoding them into Python objects only to encode them again cost more than
# the query. Point arrays hold `fields` in order; the whole answer is one text value.
_DOCUMENTS = """
SELECT CAST(coalesce(json_agg(json_build_object('device', device, 'metric', metric,
                                                'unit', unit, 'points', points)
                              ORDER BY device, metric), '[]') AS text)
FROM (SELECT device, metric, unit, json_agg(json_build_array({fields}) ORDER BY {order}) AS points
      FROM ({rows}) p GROUP BY device, metric, unit) g
"""


def _documents(conn: Connection, ctes: str, rows: str, fields: str, params: dict[str, Any]) -> str:
    sql = ctes + _DOCUMENTS.format(rows=rows, fields=fields, order=fields.split(",", maxsplit=1)[0])
    return str(conn.execute(text(sql), params).scalar_one())


def count(conn: Connection, q: SeriesQuery) -> int:
    """How many raw points the request covers (to enforce the cap before fetching)."""
    return int(conn.execute(text(_SERIES + "SELECT count(*)" + _SCOPE), asdict(q)).scalar_one())


def raw(conn: Connection, q: SeriesQuery) -> str:
    """Every reading in the range as JSON series of [time, value, flag] points."""
    rows = "SELECT s.device, s.metric, s.unit, r.time, r.value, r.flag" + _SCOPE
    return _documents(conn, _SERIES, rows, "time, value, flag", asdict(q))


_POINT = "bucket, mean, min, max, samples"


def bucketed(conn: Connection, q: SeriesQuery, bucket: timedelta) -> str:
    """JSON series of [bucket, mean, min, max, samples]: mean, min and max of the valid (N)
    values and the number of samples; time_bucket on TimescaleDB, date_bin on plain PostgreSQL."""
    function = "time_bucket" if timescaledb_installed(conn) else "date_bin"
    rows = (
        f"SELECT s.device, s.metric, s.unit, {function}(:bucket, r.time, {_ORIGIN}) AS bucket, "
        "avg(r.value) FILTER (WHERE r.flag = 'N') AS mean, "
        "min(r.value) FILTER (WHERE r.flag = 'N') AS min, "
        "max(r.value) FILTER (WHERE r.flag = 'N') AS max, count(*) AS samples"
        f"{_SCOPE} GROUP BY 1, 2, 3, 4"
    )
    return _documents(conn, _SERIES, rows, _POINT, asdict(q) | {"bucket": bucket})


_HOURS_SCOPE = _WITHIN.format(t="h", time="bucket")
# Hourly aggregates with the same meaning as `bucketed`: finished hours from rollup_hour, and
# the hours ingestion marked dirty (new or late data not yet maintained) from raw readings.
_ROLLED_HOURS = f"""
    SELECT s.device, s.metric, s.unit, h.bucket, h.n_normal, h.sum_normal,
           h.min_normal, h.max_normal, h.samples
    FROM rollup_hour h {_HOURS_SCOPE}
"""
_NOT_DIRTY = """
      AND NOT EXISTS (SELECT 1 FROM rollup_dirty x WHERE x.device_id = h.device_id
                      AND x.metric_id = h.metric_id AND x.bucket = h.bucket)
"""
_DIRTY_HOURS = f"""
    SELECT s.device, s.metric, s.unit, h.bucket,
           count(*) FILTER (WHERE r.flag = 'N'), sum(r.value) FILTER (WHERE r.flag = 'N'),
           min(r.value) FILTER (WHERE r.flag = 'N'), max(r.value) FILTER (WHERE r.flag = 'N'),
           count(*)
    FROM rollup_dirty h
    JOIN reading r ON r.device_id = h.device_id AND r.metric_id = h.metric_id
      AND r.time >= h.bucket AND r.time < h.bucket + interval '1 hour'
    {_HOURS_SCOPE}
    GROUP BY 1, 2, 3, 4
"""
_BY_BUCKET = f"""
SELECT device, metric, unit, date_bin(:bucket, bucket, {_ORIGIN}) AS bucket,
       sum(sum_normal) / NULLIF(sum(n_normal), 0) AS mean, min(min_normal) AS min,
       max(max_normal) AS max, CAST(sum(samples) AS bigint) AS samples
FROM hours GROUP BY 1, 2, 3, 4
"""


def from_rollups(conn: Connection, q: SeriesQuery, bucket: timedelta) -> str:
    """What `bucketed` gives for hour-aligned ranges and buckets of whole hours, read from the
    hourly rollups (and raw readings only for hours not yet maintained)."""
    params = asdict(q) | {"bucket": bucket}
    dirty = conn.execute(
        text(_SERIES + "SELECT 1 FROM rollup_dirty h" + _HOURS_SCOPE + " LIMIT 1"), params
    ).first()
    # With no dirty hour in the range every rollup is final; only otherwise skip the dirty
    # ones and recompute them from raw readings (planning that part touches every chunk of
    # `reading` in the range).
    hours = _ROLLED_HOURS + (_NOT_DIRTY + " UNION ALL " + _DIRTY_HOURS if dirty else "")
    return _documents(conn, f"{_SERIES}, hours AS ({hours})", _BY_BUCKET, _POINT, params)


def stream_raw(
    conn: Connection, q: SeriesQuery, *, limit: int
) -> Generator[tuple[Any, ...], None, None]:
    """The first `limit` raw rows in time order through a server-side cursor (CSV export)."""
    sql = _SERIES + "SELECT r.time, s.device, s.metric, r.value, s.unit, r.flag"
    result = conn.execution_options(stream_results=True, max_row_buffer=5000).execute(
        text(sql + _SCOPE + " ORDER BY 1, 2, 3 LIMIT :limit"), asdict(q) | {"limit": limit}
    )
    with result:  # closes the server-side cursor when the caller stops early, too
        for row in result:
            yield tuple(row)
